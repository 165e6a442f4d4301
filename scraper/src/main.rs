fn main() -> std::process::ExitCode {
    scraper::app::main()
}
