//! SQLite's mutexes, made to spin for a few microseconds before they sleep.
//!
//! Every read on SQLite begins by taking a read lock on the WAL index, and SQLite takes it
//! under one mutex per database file, held across an `fcntl` on the `-shm` file. With a read
//! connection on each worker thread (`sqlite_reader`), two threads reading at once meet on
//! that mutex: measured on `GET /auth/me`, 0.9 `futex` calls per request, each a sleep and a
//! wake-up of the thread that lost, where the lock is held for a microsecond or two. A lock
//! that spins before it sleeps turns most of those into a short wait on the same thread.
//!
//! SQLite's own mutexes (pthreads) stay: only "enter" is wrapped, trying the lock for up to
//! `SPIN` before waiting on it as before. SQLite takes a mutex implementation only before it
//! is initialised, so `spin_before_sleeping` runs first thing in the binary, before any
//! database is opened.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rusqlite::ffi;

/// SQLite's default mutex methods, which the spinning ones call.
static DEFAULT: OnceLock<ffi::sqlite3_mutex_methods> = OnceLock::new();

/// How long "enter" keeps trying before it sleeps: a few times the `fcntl` the WAL-index
/// lock is held across.
const SPIN: Duration = Duration::from_micros(20);

unsafe extern "C" fn enter_spinning(mutex: *mut ffi::sqlite3_mutex) {
    // Installed only once `DEFAULT` holds both (see below): returning without the lock
    // would be a data race, so anything else stops the process.
    let Some(default) = DEFAULT.get() else {
        std::process::abort()
    };
    let (Some(try_enter), Some(enter)) = (default.xMutexTry, default.xMutexEnter) else {
        std::process::abort()
    };
    // SAFETY: `mutex` is one SQLite allocated with the default methods these call.
    unsafe {
        if try_enter(mutex) == ffi::SQLITE_OK {
            return;
        }
        let start = Instant::now();
        while start.elapsed() < SPIN {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
            if try_enter(mutex) == ffi::SQLITE_OK {
                return;
            }
        }
        enter(mutex)
    }
}

/// Installs the spinning "enter". Must run before anything opens a SQLite database (it
/// shuts SQLite down and up again to learn its default mutex methods); returns whether it
/// took.
pub fn spin_before_sleeping() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: called once, before any connection exists (see above): SQLite is
        // initialised only to fill in its default methods, which are copied out, and shut
        // down again so that it takes the new ones at its next initialisation.
        unsafe {
            // Initialising fills in the default methods; SQLite is configured only while it
            // is shut down.
            if ffi::sqlite3_initialize() != ffi::SQLITE_OK
                || ffi::sqlite3_shutdown() != ffi::SQLITE_OK
            {
                return false;
            }
            let mut default: ffi::sqlite3_mutex_methods = std::mem::zeroed();
            let got = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETMUTEX,
                &mut default as *mut ffi::sqlite3_mutex_methods,
            );
            if got != ffi::SQLITE_OK
                || default.xMutexAlloc.is_none()
                || default.xMutexTry.is_none()
                || default.xMutexEnter.is_none()
            {
                return false;
            }
            let spinning = ffi::sqlite3_mutex_methods {
                xMutexEnter: Some(enter_spinning),
                ..default
            };
            if DEFAULT.set(default).is_err() {
                return false;
            }
            let set = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_MUTEX,
                &spinning as *const ffi::sqlite3_mutex_methods,
            );
            set == ffi::SQLITE_OK && ffi::sqlite3_initialize() == ffi::SQLITE_OK
        }
    })
}
