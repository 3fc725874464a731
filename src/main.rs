//! The `iaemu` command line: its entry; the commands are in `cli/`.

mod cli;

use clap::Parser;
use iaemu::Error;

#[derive(Parser)]
#[command(
    name = "iaemu",
    version,
    about = "Galaxy intrinsic-alignment statistics, simulation and emulation"
)]
struct Cli {
    #[command(subcommand)]
    command: cli::Command,
}

fn main() {
    // Die quietly on a closed pipe (`iaemu halos info F | head`), as Unix tools do, instead of
    // panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = Cli::parse();
    if let Err(e) = cli::run(args.command) {
        eprintln!("iaemu: {e}");
        std::process::exit(match e {
            Error::InvalidArgument(_) | Error::OutOfDomain(_) => 2,
            _ => 1,
        });
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (duplicate flags such as a `--threads` from two argument
    /// groups, bad defaults), which a release build would otherwise skip until a debug build
    /// panics at run time.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
