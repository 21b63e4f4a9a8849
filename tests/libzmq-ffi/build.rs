//! Builds libzmq 4.3.5 from the sources vendored in `zeromq-src`, with CURVE
//! backed by the libsodium that `libsodium-sys-stable` compiles from source.
//!
//! `libsodium-sys-stable` declares `links = "sodium"`, so the `cargo:lib=` and
//! `cargo:include=` lines its build script prints reach this script as
//! `DEP_SODIUM_LIB` and `DEP_SODIUM_INCLUDE`.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_SODIUM_LIB");
    println!("cargo:rerun-if-env-changed=DEP_SODIUM_INCLUDE");
    println!("cargo:rerun-if-env-changed=SODIUM_LIB_DIR");
    println!("cargo:rerun-if-env-changed=SODIUM_INCLUDE_DIR");

    let (lib_dir, include_dir) = sodium_location();
    let header = include_dir.join("sodium.h");
    assert!(
        header.is_file(),
        "libsodium header not found at {} (lib dir {})",
        header.display(),
        lib_dir.display()
    );

    // The vendored libzmq sources trip -Wextra here and there; those warnings
    // are upstream's and would print on every build of this workspace member.
    // cc appends CFLAGS/CXXFLAGS after its own warning flags, so `-w` wins.
    if !env::var("TARGET").unwrap_or_default().contains("msvc") {
        for var in ["CFLAGS", "CXXFLAGS"] {
            let mut flags = env::var(var).unwrap_or_default();
            flags.push_str(" -w");
            env::set_var(var, flags);
        }
    }

    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib_dir, include_dir)))
        .build();
}

/// Where libsodium's static library and headers are.
///
/// Normally both come from `libsodium-sys-stable`'s links metadata. When that
/// crate is pointed at a prebuilt library with `SODIUM_LIB_DIR` it prints no
/// metadata, so fall back to `SODIUM_LIB_DIR` and `SODIUM_INCLUDE_DIR` (or the
/// `include` directory next to the library directory).
fn sodium_location() -> (PathBuf, PathBuf) {
    if let (Ok(lib), Ok(include)) = (env::var("DEP_SODIUM_LIB"), env::var("DEP_SODIUM_INCLUDE")) {
        return (PathBuf::from(lib), PathBuf::from(include));
    }
    let lib = env::var("SODIUM_LIB_DIR").map(PathBuf::from).expect(
        "libsodium-sys-stable gave no DEP_SODIUM_LIB/DEP_SODIUM_INCLUDE and SODIUM_LIB_DIR is unset",
    );
    let include = env::var("SODIUM_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| lib.join("../include"));
    (lib, include)
}
