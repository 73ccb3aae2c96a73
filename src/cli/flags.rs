//! Reading the values of flags, so that every error names the flag: a flag given without its
//! value, a value that is not UTF-8, a value that does not parse (with the value, shortened,
//! and why).

use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use pico_args::Arguments;

use crate::config::quoted;

/// The raw value of `flag`, if the flag is there.
fn raw(args: &mut Arguments, flag: &'static str) -> Result<Option<OsString>, String> {
    args.opt_value_from_os_str(flag, |value| Ok::<_, Infallible>(value.to_os_string()))
        .map_err(|_| format!("{flag} needs a value"))
}

/// The value of `flag` read as a `T`, if the flag is there.
pub fn value<T>(args: &mut Arguments, flag: &'static str) -> Result<Option<T>, String>
where
    T: FromStr,
    T::Err: Display,
{
    let Some(value) = raw(args, flag)? else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok_or_else(|| format!("{flag}: the value is not valid UTF-8"))?;
    text.parse()
        .map(Some)
        .map_err(|e| format!("{flag}: cannot read {}: {e}", quoted(text)))
}

/// The value of `flag` read as a `T`; the flag must be there.
pub fn required<T>(args: &mut Arguments, flag: &'static str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    value(args, flag)?.ok_or_else(|| format!("{flag} is required"))
}

/// The value of `flag` as a path (any bytes), if the flag is there.
pub fn path(args: &mut Arguments, flag: &'static str) -> Result<Option<PathBuf>, String> {
    Ok(raw(args, flag)?.map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Arguments {
        Arguments::from_vec(line.iter().map(OsString::from).collect())
    }

    #[test]
    fn values_parse_and_absent_flags_are_none() {
        let mut a = args(&["--port", "9000", "--file", "s.json"]);
        assert_eq!(value::<u16>(&mut a, "--port"), Ok(Some(9000)));
        assert_eq!(value::<u16>(&mut a, "--port"), Ok(None));
        assert_eq!(path(&mut a, "--file"), Ok(Some(PathBuf::from("s.json"))));
    }

    #[test]
    fn every_error_names_the_flag() {
        let mut a = args(&["--port", "http"]);
        assert_eq!(
            value::<u16>(&mut a, "--port"),
            Err("--port: cannot read \"http\": invalid digit found in string".to_string())
        );
        let mut a = args(&["--port", "70000"]);
        let e = value::<u16>(&mut a, "--port").unwrap_err();
        assert!(e.starts_with("--port: cannot read \"70000\": "), "{e}");
        let mut a = args(&["--rounds"]);
        assert_eq!(
            value::<u64>(&mut a, "--rounds"),
            Err("--rounds needs a value".to_string())
        );
        let mut a = args(&[]);
        assert_eq!(
            required::<String>(&mut a, "--id"),
            Err("--id is required".to_string())
        );
        let long = "9".repeat(1000);
        let mut a = args(&["--port", &long]);
        let e = value::<u16>(&mut a, "--port").unwrap_err();
        assert!(e.len() < 200 && e.contains("9…"), "{e}");
    }
}
