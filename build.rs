//! Links the release binary with the functions it runs from start through serving placed
//! together (`linker/symbol-order.txt`, written by `bench/symbol-order.sh`).
//!
//! Why: Linux maps a program's code in 64 KiB (or larger) runs around each page it touches.
//! The code a server runs is spread over the whole 17 MiB binary, so an idle server had
//! 14 MiB of it resident, and 24 MiB in all; with the functions it runs placed together,
//! 16–17 MiB in all (docs/benchmarks.md, "The code a server runs, placed together").
//!
//! The file names symbols of one toolchain and one dependency set: with another, fewer of
//! its names exist, and the linker skips those (docs/development.md, "The symbol order").
//!
//! Only where the linker takes the option (`rust-lld`, the default of rustup's toolchains
//! for x86_64 Linux since Rust 1.90; also lld and mold): a probe program is linked with it
//! first, with the build's own compiler, target, flags and linker, and a linker that refuses
//! it (GNU ld, a distribution's rustc built against its own LLVM) links as before.
//! `LARCH_SYMBOL_ORDER=off` turns it off.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ORDER_FILE: &str = "linker/symbol-order.txt";

fn main() {
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "LARCH_SYMBOL_ORDER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("LARCH_SYMBOL_ORDER") == "off" || var("PROFILE") != "release" {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER_FILE);
    // `-Wl,` splits its argument at commas.
    if !order.is_file() || order.to_string_lossy().contains(',') {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        // Names the build does not have (another toolchain, an updated dependency) are skipped.
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ];
    if links_with(&args) {
        for arg in args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    } else {
        println!("cargo:warning=the linker does not take a symbol order: linking without one");
    }
}

/// Whether a program links with `args`, built as the binary will be: same compiler, target,
/// flags and linker.
fn links_with(args: &[String]) -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    let out = PathBuf::from(var("OUT_DIR"));
    let source = out.join("symbol_order_probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let mut rustc = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()));
    rustc
        .arg("--edition=2021")
        .arg("--crate-type=bin")
        .arg("--target")
        .arg(var("TARGET"))
        .arg("-o")
        .arg(out.join("symbol_order_probe"))
        .arg(&source);
    // The flags the build compiles with (they may choose the linker).
    for flag in var("CARGO_ENCODED_RUSTFLAGS")
        .split('\u{1f}')
        .filter(|f| !f.is_empty())
    {
        rustc.arg(flag);
    }
    // A linker from the environment or a Cargo config file's `[target]` table.
    if let Ok(linker) = env::var("RUSTC_LINKER") {
        rustc.arg(format!("-Clinker={linker}"));
    }
    for arg in args {
        rustc.arg(format!("-Clink-arg={arg}"));
    }
    rustc
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
