// Every request allocates and frees a store, an instance's host state and HTTP buffers from
// several threads; mimalloc's per-thread free lists make that cheaper than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // With RUST_BACKTRACE=1, wasmtime captures a backtrace on every Store drop, a cost paid by
    // every request. RUST_LIB_BACKTRACE=0 turns off library captures but keeps panic
    // backtraces; an explicit RUST_LIB_BACKTRACE from the user wins.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    nimbus::cli::main()
}
