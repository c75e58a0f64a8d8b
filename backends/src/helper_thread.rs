//! A second core for the code generator: a process-wide helper thread that takes jobs of a
//! [`Batch`] while the thread that made the batch keeps adding jobs and, once it has added them
//! all, does the ones left itself.
//!
//! A tier-up compiles a function together with the typed callees it calls directly (primes'
//! top level brings `main` and `is_prime`), and generating machine code is most of its cost.
//! The jobs are independent (one function each), so the helper can generate one function's
//! code while this thread lowers the next. The helper is woken when the batch starts, before
//! the first job exists, since waking a sleeping core takes tens of microseconds on a virtual
//! machine; both threads spin for a short while before they sleep when they wait on each
//! other, for the same reason.
//!
//! Nothing depends on the helper: with one core, or when the helper is busy with another
//! batch (an interpreter on another thread), the thread that made the batch does every job.
//! A job that panics on the helper is returned as it was left (its `run` never recorded a
//! result), so the caller reports a failed compilation instead of waiting forever.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How long a waiting thread spins before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// Jobs of one batch, shared by the thread that made it and the helper.
pub struct Batch<J: Send + 'static> {
    state: Mutex<State<J>>,
    /// Bumped on every change of `state`, so that a spinning thread sees changes without the
    /// lock.
    events: AtomicU64,
    changed: Condvar,
    run: fn(&mut J),
}

struct State<J> {
    waiting: VecDeque<(usize, J)>,
    done: Vec<(usize, J)>,
    running: usize,
    /// No job will be added anymore.
    closed: bool,
}

/// What the helper thread is handed: a batch to help with, whatever its job type.
trait Help: Send + Sync {
    fn help(&self);
}

impl<J: Send + 'static> Help for Batch<J> {
    fn help(&self) {
        self.work(true);
    }
}

impl<J: Send + 'static> Batch<J> {
    /// A batch whose jobs `run` does. The helper thread (if the machine has a second core) is
    /// told about it now, so that it is awake when the first job is added.
    pub fn start(run: fn(&mut J)) -> Arc<Self> {
        let batch = Arc::new(Batch {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                done: vec![],
                running: 0,
                closed: false,
            }),
            events: AtomicU64::new(0),
            changed: Condvar::new(),
            run,
        });
        if let Some(helper) = helper() {
            // A helper that has gone (it cannot, but if it did) leaves every job to us.
            let _ = helper.send(batch.clone());
        }
        batch
    }

    /// Adds job number `index`.
    pub fn add(&self, index: usize, job: J) {
        let mut st = self.lock();
        st.waiting.push_back((index, job));
        self.notify();
    }

    /// Closes the batch, does the jobs nobody has taken, waits for those the helper is doing,
    /// and returns every job in the order of their numbers.
    pub fn finish(&self) -> Vec<J> {
        {
            let mut st = self.lock();
            st.closed = true;
            self.notify();
        }
        self.work(false);
        let mut st = self.lock();
        while st.running > 0 {
            st = self.wait(st);
        }
        let mut done = std::mem::take(&mut st.done);
        done.sort_by_key(|&(i, _)| i);
        done.into_iter().map(|(_, j)| j).collect()
    }

    /// Does waiting jobs until the batch is closed and none is left (`helper`: on the helper
    /// thread, which catches a panicking job).
    fn work(&self, helper: bool) {
        let mut st = self.lock();
        loop {
            if let Some((i, mut job)) = st.waiting.pop_front() {
                st.running += 1;
                drop(st);
                if helper {
                    let run = self.run;
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut job)));
                } else {
                    (self.run)(&mut job);
                }
                st = self.lock();
                st.running -= 1;
                st.done.push((i, job));
                self.notify();
            } else if st.closed {
                return;
            } else {
                st = self.wait(st);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // A panic never happens while the lock is held: the state stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.events.fetch_add(1, Ordering::Release);
        self.changed.notify_all();
    }

    /// Waits for a change of the state: spins for up to [`SPIN`] first, then sleeps.
    fn wait<'a>(&'a self, st: MutexGuard<'a, State<J>>) -> MutexGuard<'a, State<J>> {
        let seen = self.events.load(Ordering::Acquire);
        drop(st);
        let start = Instant::now();
        while start.elapsed() < SPIN {
            if self.events.load(Ordering::Acquire) != seen {
                return self.lock();
            }
            std::hint::spin_loop();
        }
        let st = self.lock();
        if self.events.load(Ordering::Acquire) != seen {
            return st;
        }
        self.changed.wait(st).unwrap_or_else(|e| e.into_inner())
    }
}

/// The helper thread's mailbox, started on first use; `None` on a machine with one core.
fn helper() -> Option<&'static mpsc::Sender<Arc<dyn Help>>> {
    static HELPER: OnceLock<Option<mpsc::Sender<Arc<dyn Help>>>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if cores < 2 {
                return None;
            }
            let (tx, rx) = mpsc::channel::<Arc<dyn Help>>();
            std::thread::Builder::new()
                .name("ruchy-codegen".into())
                .stack_size(8 << 20)
                .spawn(move || {
                    for batch in rx {
                        batch.help();
                    }
                })
                .ok()?;
            Some(tx)
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Job {
        input: u64,
        output: Option<u64>,
        thread: Option<std::thread::ThreadId>,
    }

    fn square(j: &mut Job) {
        // Long enough that the helper takes some of the jobs.
        std::thread::sleep(Duration::from_millis(2));
        j.output = Some(j.input * j.input);
        j.thread = Some(std::thread::current().id());
    }

    fn maybe_panic(j: &mut Job) {
        if std::thread::current().name() == Some("ruchy-codegen") {
            panic!("job {} panics on the helper (as the test wants)", j.input);
        }
        square(j);
    }

    fn jobs(n: usize) -> impl Iterator<Item = (usize, Job)> {
        (0..n).map(|k| {
            (
                k,
                Job {
                    input: 10 + k as u64,
                    ..Default::default()
                },
            )
        })
    }

    // One test, so that no other test of this crate keeps the helper busy meanwhile.
    #[test]
    fn jobs_are_shared_with_the_helper_and_come_back_in_order() {
        let batch = Batch::start(square);
        for (k, job) in jobs(8) {
            batch.add(k, job);
        }
        let done = batch.finish();
        let outputs: Vec<_> = done.iter().map(|j| j.output).collect();
        let expected: Vec<_> = (10..18u64).map(|x| Some(x * x)).collect();
        assert_eq!(outputs, expected);
        if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            let here = std::thread::current().id();
            assert!(
                done.iter().any(|j| j.thread != Some(here)),
                "the helper thread took none of the jobs"
            );
        }
        // A job that panics on the helper comes back undone instead of hanging the batch...
        let batch = Batch::start(maybe_panic);
        for (k, job) in jobs(6) {
            batch.add(k, job);
        }
        let done = batch.finish();
        assert_eq!(done.len(), 6);
        for (k, j) in done.iter().enumerate() {
            let x = 10 + k as u64;
            assert!(j.output.is_none() || j.output == Some(x * x));
        }
        // ... and the helper goes on helping.
        let batch = Batch::start(square);
        batch.add(0, jobs(1).next().unwrap().1);
        assert_eq!(batch.finish()[0].output, Some(100));
    }
}
