use clap::Parser;

// mimalloc, not glibc malloc: Argon2id's 19 MiB, 64-byte-aligned blocks fragment glibc's heap
// so badly that two hashing threads held 430 MiB; with mimalloc they hold ~45 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = larch::cli::Cli::parse();
    match larch::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("larch: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
