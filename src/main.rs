use clap::Parser;

// mimalloc, not glibc malloc: Argon2id's 19 MiB, 64-byte-aligned blocks fragment glibc's heap
// so badly that two hashing threads held 430 MiB; with mimalloc they hold ~45 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Commit mimalloc's arena memory as it is used rather than all at once: idle RSS ~15 MiB
/// instead of ~24. It must be set before the first allocation, which Rust's runtime makes
/// before `main`, hence a constructor in `.init_array`. `MIMALLOC_ARENA_EAGER_COMMIT` in the
/// environment still wins.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static LAZY_ARENA_COMMIT: extern "C" fn() = {
    extern "C" fn lazy_arena_commit() {
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            // SAFETY: runs single-threaded before `main`; option 4 is `arena_eager_commit`.
            unsafe { libmimalloc_sys::mi_option_set(4, 0) };
        }
    }
    lazy_arena_commit
};

/// Returns memory the process no longer uses to the operating system within a few seconds.
///
/// mimalloc frees memory lazily: a freed span (an Argon2id hash's 19 MiB block, say) is
/// only scheduled for purging, and the purge happens on some later call into the allocator.
/// After a burst (64 clients logging in at once), the hashing threads go quiet, nothing
/// calls in, and the process kept ~65 MiB for good against ~19 MiB idle. This thread calls
/// `mi_collect(false)` every two seconds, which purges what has been scheduled (cheap when
/// nothing is: one clock read); the spans a busy burst frees and reuses within mimalloc's
/// delay (100 ms for arenas) are not returned and faulted back in between.
fn return_freed_memory_periodically() {
    let spawned = std::thread::Builder::new()
        .name("larch-mem".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(2));
                // SAFETY: a plain call into the allocator, allowed from any thread.
                unsafe { libmimalloc_sys::mi_collect(false) };
            }
        });
    if let Err(e) = spawned {
        eprintln!("larch: not returning freed memory periodically: {e}");
    }
}

fn main() -> std::process::ExitCode {
    let cli = larch::cli::Cli::parse();
    // Before any database is opened (see the module).
    larch::sqlite_mutex::spin_before_sleeping();
    return_freed_memory_periodically();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let result = runtime.block_on(larch::cli::run(cli));
    // Everything has stopped by now; do not wait on a blocking task that has not.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("larch: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
