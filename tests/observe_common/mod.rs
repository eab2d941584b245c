//! What the hooks' tests (`tests/observe*.rs`) share.

/// Silences the panics these tests make on purpose (payload `"on purpose"`), and only
/// those; installed once per test binary, however many tests ask.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"on purpose") {
                default(info);
            }
        }));
    });
}
