//! `bcdr host`: the command line of the local Functions host (the `functions-host` crate).

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// Function app folders: each holds host.json and one subfolder per function.
    #[arg(value_name = "APP_DIR", default_value = ".")]
    pub apps: Vec<PathBuf>,

    /// Port of the HTTP front on 127.0.0.1.
    #[arg(long, default_value_t = 7071)]
    pub port: u16,

    /// An app setting for every handler, over local.settings.json and the environment.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub set: Vec<(String, String)>,

    /// Require this key for function- and admin-level HTTP functions (not checked without it).
    #[arg(long, value_name = "KEY")]
    pub functions_key: Option<String>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, found {text:?}")),
    }
}

pub fn run(args: HostArgs) -> anyhow::Result<()> {
    functions_host::run(functions_host::Options {
        apps: args.apps,
        port: args.port,
        settings: args.set,
        functions_key: args.functions_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_on_the_command_line() {
        assert_eq!(parse_setting("A=b=c"), Ok(("A".to_string(), "b=c".to_string())));
        assert_eq!(parse_setting("A="), Ok(("A".to_string(), String::new())));
        assert_eq!(parse_setting("novalue"), Err("expected NAME=VALUE, found \"novalue\"".to_string()));
        assert_eq!(parse_setting("=x"), Err("expected NAME=VALUE, found \"=x\"".to_string()));
    }
}
