fn main() -> std::process::ExitCode {
    unblocker::cli::main()
}
