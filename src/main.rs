use clap::Parser;

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
