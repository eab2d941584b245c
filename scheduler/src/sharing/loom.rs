//! loom models of the SharingScheduler protocols.
