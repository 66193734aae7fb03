use std::process::ExitCode;

fn main() -> ExitCode {
    tokpost::run()
}
