fn main() -> std::process::ExitCode {
    nimbus::cli::main()
}
