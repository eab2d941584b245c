//! [`Priority`]: which of an actor's two queues a message waits in.

/// The priority of a message.
///
/// An actor handles every queued [`High`](Priority::High) message before the next
/// [`Normal`](Priority::Normal) one; within one priority, messages from one sender are
/// handled in the order they were sent.
///
/// # Examples
///
/// ```
/// use zeta_mailbox::Priority;
/// assert_eq!(Priority::default(), Priority::Normal);
/// assert!(Priority::High > Priority::Normal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Priority {
    /// The default: handled in arrival order (per sender) after all high messages.
    #[default]
    Normal = 0,
    /// Urgent: cancels, kill switches, control. Overtakes queued normal messages.
    High = 1,
}
