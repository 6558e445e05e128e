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
//! Only with the linker that reads the file: rustc's own `rust-lld`, the default for
//! x86_64 Linux (GNU) since Rust 1.90, unless the build chooses another linker.
//! `LARCH_SYMBOL_ORDER=off` turns it off.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER_FILE: &str = "linker/symbol-order.txt";

fn main() {
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "LARCH_SYMBOL_ORDER",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if !wanted() {
        return;
    }
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(ORDER_FILE);
    if !order.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // Names the build does not have (another toolchain, an updated dependency) are skipped.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

fn wanted() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("LARCH_SYMBOL_ORDER") == "off" || var("PROFILE") != "release" {
        return false;
    }
    let default_lld_target = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    // Another linker chosen (GNU ld would fail on the option; mold and lld would take it,
    // but are not worth telling apart from it here).
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let other_linker = env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || ["linker", "link-self-contained", "fuse-ld"]
            .iter()
            .any(|flag| flags.contains(flag));
    default_lld_target && !other_linker && rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The `N` of the compiler's version `1.N.x`.
fn rustc_minor() -> Option<u32> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    let version = String::from_utf8(output.stdout).ok()?;
    version
        .split_whitespace()
        .nth(1)?
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}
