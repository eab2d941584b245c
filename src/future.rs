//! Request/reply: [`Reply`], the handler's half, and [`Future`], the asker's.
//!
//! Both point into the request's message node (zeta-mailbox's request nodes): the reply
//! slot is allocated with the message, from the receiver's memory resource, and freed
//! when the message, the `Reply` and the `Future` are all done with it. Whatever the
//! order of reply, cancellation, stop, kill or panic, the future resolves: to the value,
//! or to [`RequestError::NoReply`] when no value can come.

use core::fmt;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use zeta_arena::GlobalResource;
use zeta_mailbox::{Envelope, NoReply, Pending, Priority};

use crate::error::RequestError;

/// The handler's half of a request: answer with [`send`](zeta_mailbox::Reply::send).
///
/// Dropping it unsent resolves the asker's [`Future`] with [`RequestError::NoReply`].
/// It may be kept and answered later, or moved to another actor: the request node
/// stays alive (and keeps its actor's memory alive) until both halves are done.
///
/// # Examples
///
/// Requests kept and answered later; [`is_cancelled`](zeta_mailbox::Reply::is_cancelled)
/// tells which askers have gone:
///
/// ```
/// use zeta::{Actor, Context, Reply, System};
///
/// /// Holds the questions until it is opened, then answers them.
/// struct Gate {
///     waiting: Vec<Reply<&'static str>>,
/// }
/// enum GateMsg {
///     Wait(Reply<&'static str>),
///     Open(Reply<usize>),
/// }
/// impl Actor for Gate {
///     type Message = GateMsg;
///     fn handle(&mut self, msg: GateMsg, _ctx: &mut Context<'_, Self>) {
///         match msg {
///             GateMsg::Wait(reply) => self.waiting.push(reply),
///             GateMsg::Open(done) => {
///                 let mut answered = 0;
///                 for reply in self.waiting.drain(..) {
///                     // An asker that has gone would throw the answer away: skip it.
///                     if !reply.is_cancelled() && reply.send("open").is_ok() {
///                         answered += 1;
///                     }
///                 }
///                 let _ = done.send(answered);
///             }
///         }
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let gate = system.spawn(Gate { waiting: Vec::new() }).unwrap();
/// let mut kept = gate.ask(GateMsg::Wait).unwrap();
/// let given_up = gate.ask(GateMsg::Wait).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(kept.try_take(), None); // held, not answered yet
/// drop(given_up);
/// let mut opened = gate.ask(GateMsg::Open).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(kept.try_take(), Some(Ok("open")));
/// assert_eq!(opened.try_take(), Some(Ok(1)));
/// ```
pub type Reply<T> = zeta_mailbox::Reply<'static, T>;

/// How [`Future::wait`] waits.
///
/// Both spin briefly first, then park the thread on the request's slot, so the reply
/// wakes the waiter at once. `Backoff` parks for doubling spans (1 µs up to 1 ms) and
/// looks between them; `Park` parks until the reply or the deadline. Measured
/// (`cargo bench -p zeta-bench --bench actors -- outside-ask`, an outside thread asking
/// an actor on a `SharingScheduler`, one request at a time, 2-core VM, two sittings,
/// 1 worker): `Backoff` p50 331 / 301 ns, p99.9 6.29 / 1.11 µs; `Park` p50 291 / 381 ns,
/// p99.9 1.33 / 3.96 µs. Before `Backoff` parked (it slept, and a "1 µs" sleep lasts the
/// OS timer slack), its p99.9 was 68.80, 24.47 and 2.18 µs in three sittings of the
/// same day. BENCHMARKS.md has the whole table.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, Reply, RequestError, System, WaitStrategy};
///
/// struct Echo;
/// impl Actor for Echo {
///     type Message = (u32, Reply<u32>);
///     fn handle(&mut self, (n, reply): (u32, Reply<u32>), _ctx: &mut Context<'_, Self>) {
///         let _ = reply.send(n);
///     }
/// }
///
/// let system = System::manual(64).unwrap(); // runs only when this thread runs it
/// let echo = system.spawn(Echo).unwrap();
/// let mut answer = echo.ask(|reply| (7, reply)).unwrap();
/// let waited = answer.wait_timeout_with(WaitStrategy::Park, Duration::from_millis(10));
/// assert_eq!(waited, Err(RequestError::Timeout)); // still pending, still usable
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(answer.wait_with(WaitStrategy::Backoff), Ok(7)); // ready: no wait
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin briefly, then sleep with exponential backoff from 1 µs, doubling up to
    /// 1 ms between checks (actor-zeta's strategy), each sleep a park with that
    /// timeout: the reply wakes the waiter at once, as with `Park`.
    #[default]
    Backoff,
    /// Spin briefly, then park the thread until the replier unparks it (or the deadline
    /// passes). The replier pays for an unpark, the waiter wakes as soon as the reply
    /// is in.
    Park,
}

/// Spins before sleeping or parking: most replies on a busy scheduler come back within
/// a few microseconds.
const SPINS: u32 = 256;
const FIRST_SLEEP: Duration = Duration::from_micros(1);
const MAX_SLEEP: Duration = Duration::from_millis(1);

/// The asker's half of a request: resolves to the reply, or to an error when none can
/// come.
///
/// - [`is_ready`](Future::is_ready) and [`try_take`](Future::try_take) never block;
/// - [`wait`](Future::wait), [`wait_with`](Future::wait_with) and
///   [`wait_timeout`](Future::wait_timeout) block the thread (refused with
///   [`RequestError::WouldBlock`] inside an actor: a blocked worker can deadlock its
///   scheduler; with a [`ManualScheduler`](zeta_scheduler::ManualScheduler), run the
///   scheduler, then `try_take`);
/// - it implements [`core::future::Future`], so async code can `.await` it with no
///   runtime: the replier wakes the registered waker;
/// - dropping it (or [`cancel`](Future::cancel)) before the reply is safe: the reply is
///   discarded when it comes, and the node is freed once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, Reply, RequestError, System};
///
/// struct Oracle;
/// enum Question {
///     Answer(Reply<u32>),
///     Ignore(Reply<u32>),
/// }
/// impl Actor for Oracle {
///     type Message = Question;
///     fn handle(&mut self, question: Question, _ctx: &mut Context<'_, Self>) {
///         match question {
///             Question::Answer(reply) => drop(reply.send(42)),
///             Question::Ignore(reply) => drop(reply), // resolves the asker with NoReply
///         }
///     }
/// }
///
/// let system = System::sharing(1).unwrap();
/// let oracle = system.spawn(Oracle).unwrap();
/// let mut answer = oracle.ask(Question::Answer).unwrap();
/// assert_eq!(answer.wait_timeout(Duration::from_secs(5)), Ok(42));
/// let ignored = oracle.ask(Question::Ignore).unwrap();
/// assert_eq!(ignored.wait(), Err(RequestError::NoReply));
/// ```
///
/// Awaited, by any executor; here polled by hand, with the actors run in between:
///
/// ```
/// use std::future::Future as _;
/// use std::pin::pin;
/// use std::task::{Context as TaskContext, Poll, Waker};
/// use zeta::{Actor, Context, Reply, System};
///
/// struct Echo;
/// impl Actor for Echo {
///     type Message = (u32, Reply<u32>);
///     fn handle(&mut self, (n, reply): (u32, Reply<u32>), _ctx: &mut Context<'_, Self>) {
///         let _ = reply.send(n);
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let echo = system.spawn(Echo).unwrap();
/// let mut sum = pin!(async {
///     let a = echo.ask(|reply| (1, reply)).unwrap().await.unwrap();
///     let b = echo.ask(|reply| (2, reply)).unwrap().await.unwrap();
///     a + b
/// });
/// let mut task = TaskContext::from_waker(Waker::noop());
/// assert!(sum.as_mut().poll(&mut task).is_pending()); // the first question is queued
/// system.scheduler().run_until_idle().unwrap();
/// assert!(sum.as_mut().poll(&mut task).is_pending()); // the second
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(sum.as_mut().poll(&mut task), Poll::Ready(3));
/// ```
#[must_use = "dropping a future cancels the request's reply"]
pub struct Future<T> {
    pending: Pending<'static, T>,
}

/// The memory of the requests that no actor's resource holds ([`Future::pair`]).
static GLOBAL: GlobalResource = GlobalResource;

impl<T: Send> Future<T> {
    /// A request with no actor behind it: a [`Reply`] and the [`Future`] it resolves,
    /// in one node from the global allocator (one allocation, freed when both halves are
    /// done with it).
    ///
    /// This is how an answer that comes from outside the actors reaches a `Future`: a
    /// thread of one's own, a callback of an I/O library, or `zeta-remote`'s bridge,
    /// which answers with a reply that came over the network. Everything said of an
    /// actor's requests holds: dropping the `Reply` unsent resolves the future with
    /// [`RequestError::NoReply`]; dropping the future discards the answer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::thread;
    /// use zeta::{Future, RequestError};
    ///
    /// let (reply, answer) = Future::pair();
    /// let worker = thread::spawn(move || reply.send(6 * 7).unwrap());
    /// assert_eq!(answer.wait(), Ok(42));
    /// worker.join().unwrap();
    ///
    /// let (reply, mut unanswered) = Future::<u32>::pair();
    /// drop(reply);
    /// assert_eq!(unanswered.try_take(), Some(Err(RequestError::NoReply)));
    /// ```
    pub fn pair() -> (Reply<T>, Future<T>) {
        match Envelope::new_request_in(&GLOBAL, Priority::Normal, |reply| reply) {
            // The node's own share goes with the payload; the reply's and the
            // future's keep it.
            Ok((envelope, pending)) => (envelope.into_payload(), Future::new(pending)),
            // As `Box::new` does when the global allocator fails.
            Err(_) => std::alloc::handle_alloc_error(core::alloc::Layout::new::<(Reply<T>, T)>()),
        }
    }
}

impl<T> Future<T> {
    pub(crate) fn new(pending: Pending<'static, T>) -> Self {
        Self { pending }
    }

    /// Whether the request has resolved (a value or an error is ready).
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.pending.is_ready()
    }

    /// The result, if the request has resolved; never blocks. After the value was
    /// taken, `Err(RequestError::NoReply)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, Reply, RequestError, System};
    ///
    /// struct Echo;
    /// impl Actor for Echo {
    ///     type Message = (u32, Reply<u32>);
    ///     fn handle(&mut self, (n, reply): (u32, Reply<u32>), _ctx: &mut Context<'_, Self>) {
    ///         let _ = reply.send(n);
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let echo = system.spawn(Echo).unwrap();
    /// let mut answer = echo.ask(|reply| (7, reply)).unwrap();
    /// assert!(!answer.is_ready());
    /// assert_eq!(answer.try_take(), None);
    /// system.scheduler().run_until_idle().unwrap();
    /// assert!(answer.is_ready());
    /// assert_eq!(answer.try_take(), Some(Ok(7)));
    /// assert_eq!(answer.try_take(), Some(Err(RequestError::NoReply))); // taken already
    /// ```
    #[inline]
    pub fn try_take(&mut self) -> Option<Result<T, RequestError>> {
        let result = self.pending.try_take()?;
        Some(map_result(result, &self.pending))
    }

    /// Blocks until the request resolves, with the default [`WaitStrategy`].
    ///
    /// # Errors
    ///
    /// [`RequestError::NoReply`] when no value will come
    /// ([`RequestError::HandlerPanicked`] when that is because the handler holding the
    /// request panicked); [`RequestError::WouldBlock`] when called inside an actor.
    pub fn wait(self) -> Result<T, RequestError> {
        self.wait_with(WaitStrategy::default())
    }

    /// Blocks until the request resolves, waiting as `strategy` says.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Future::wait).
    pub fn wait_with(mut self, strategy: WaitStrategy) -> Result<T, RequestError> {
        self.wait_until(strategy, None)
    }

    /// Blocks until the request resolves or `timeout` passes, with the default
    /// [`WaitStrategy`]. After a timeout the future is still usable.
    ///
    /// # Errors
    ///
    /// [`RequestError::Timeout`], and as for [`wait`](Future::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, RequestError> {
        self.wait_timeout_with(WaitStrategy::default(), timeout)
    }

    /// [`wait_timeout`](Future::wait_timeout) with a chosen strategy.
    ///
    /// # Errors
    ///
    /// As for [`wait_timeout`](Future::wait_timeout).
    pub fn wait_timeout_with(
        &mut self,
        strategy: WaitStrategy,
        timeout: Duration,
    ) -> Result<T, RequestError> {
        let deadline = Instant::now().checked_add(timeout);
        self.wait_until(strategy, deadline)
    }

    /// Gives up on the reply: it is discarded when it comes. The same as dropping the
    /// future.
    pub fn cancel(self) {
        drop(self);
    }

    fn wait_until(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<T, RequestError> {
        if let Some(result) = self.try_take() {
            return result;
        }
        if crate::cell::in_actor() {
            return Err(RequestError::WouldBlock);
        }
        match strategy {
            WaitStrategy::Park => match self.pending.wait_until(deadline) {
                Some(result) => map_result(result, &self.pending),
                None => Err(RequestError::Timeout),
            },
            WaitStrategy::Backoff => self.backoff(deadline),
        }
    }

    fn backoff(&mut self, deadline: Option<Instant>) -> Result<T, RequestError> {
        for _ in 0..SPINS {
            if self.is_ready() {
                break;
            }
            core::hint::spin_loop();
        }
        let mut pause = FIRST_SLEEP;
        loop {
            if let Some(result) = self.try_take() {
                return result;
            }
            let now = Instant::now();
            let nap = match deadline {
                Some(deadline) => {
                    if now >= deadline {
                        return Err(RequestError::Timeout);
                    }
                    pause.min(deadline - now)
                }
                None => pause,
            };
            // Parked for the nap, not slept: the reply wakes the waiter at once.
            if let Some(result) = self.pending.sleep_until(now + nap) {
                return map_result(result, &self.pending);
            }
            pause = (pause * 2).min(MAX_SLEEP);
        }
    }
}

/// A request's outcome as the asker is told it.
#[inline]
pub(crate) fn map_result<T>(
    result: Result<T, NoReply>,
    pending: &Pending<'static, T>,
) -> Result<T, RequestError> {
    result.map_err(|NoReply| {
        if pending.abandoned_by_panic() {
            RequestError::HandlerPanicked
        } else {
            RequestError::NoReply
        }
    })
}

// The value lives in the request node, never inside the `Future`, and nothing is
// pinned: moving a `Future` between polls is fine whatever `T` is.
impl<T> Unpin for Future<T> {}

impl<T> core::future::Future for Future<T> {
    type Output = Result<T, RequestError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.pending
            .poll_take(cx)
            .map(|result| map_result(result, &this.pending))
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("ready", &self.is_ready())
            .finish()
    }
}
