//! loom model of the pool protocol: remote frees racing the owner's allocation.
