//! Kafka's `ConfigDef` vocabulary: value types, validators, one key's
//! definition, and parsing a raw string the way `ConfigDef.parseType` does.

use std::fmt;

/// A config value's type, numbered as DescribeConfigs v3+ reports it
/// (`DescribeConfigsResponse.ConfigType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The id DescribeConfigs v3+ puts in `ConfigType` (0 is UNKNOWN).
    pub fn id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// Kafka's upper-case name, as in `Not a number of type INT`.
    pub fn kafka_name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// `ConfigDef.Importance`: documentation only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    High,
    Medium,
    Low,
}

/// The value checks Kafka attaches to keys (`ConfigDef.Range`, `ValidString`,
/// `ValidList`, and a few special ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    None,
    /// Inclusive numeric bounds (`Range.atLeast`, `Range.between`).
    Range {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// One of these strings, case-sensitive (`ValidString.in`).
    OneOf(&'static [&'static str]),
    /// One of these strings, ignoring ASCII case (broker `compression.type`).
    OneOfIgnoreCase(&'static [&'static str]),
    /// Every list element is one of these (`ValidList.in`).
    ListOf(&'static [&'static str]),
    /// A metadata/inter-broker version such as `3.0`, `2.8-IV1`, `0.10.2`.
    ApiVersion,
    /// `leader/follower.replication.throttled.replicas`: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

impl Validator {
    pub const fn at_least(min: i64) -> Validator {
        Validator::Range {
            min: Some(min),
            max: None,
        }
    }

    pub const fn between(min: i64, max: i64) -> Validator {
        Validator::Range {
            min: Some(min),
            max: Some(max),
        }
    }

    /// A human summary for docs and tables ("[1,...]", "[delete, compact]").
    pub fn describe(&self) -> String {
        match self {
            Validator::None => String::new(),
            Validator::Range { min, max } => format!(
                "[{},{}]",
                min.map_or("...".to_owned(), |v| v.to_string()),
                max.map_or("...".to_owned(), |v| v.to_string())
            ),
            Validator::OneOf(v) | Validator::OneOfIgnoreCase(v) | Validator::ListOf(v) => {
                format!("[{}]", v.join(", "))
            }
            Validator::ApiVersion => "[0.8.0, ..., 3.5-IV2]".to_owned(),
            Validator::ThrottledReplicas => "[partitionId]:[brokerId],... or *".to_owned(),
        }
    }
}

/// One config key's definition, broker or topic.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub ty: ConfigType,
    /// The default as Kafka's `ConfigDef.convertToString` prints it; `None`
    /// is Kafka's `null` (unset, usually meaning "derive from another key").
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub importance: Importance,
    /// Whether Rill acts on this key today. Set but not honored keys are
    /// reported at start-up.
    pub honored: bool,
    /// Whether Kafka lets AlterConfigs change it at runtime (broker keys);
    /// DescribeConfigs reports `read_only = !dynamic`.
    pub dynamic: bool,
    pub doc: &'static str,
}

impl ConfigKey {
    pub(crate) const fn new(
        name: &'static str,
        ty: ConfigType,
        default: Option<&'static str>,
        importance: Importance,
        doc: &'static str,
    ) -> ConfigKey {
        ConfigKey {
            name,
            ty,
            default,
            validator: Validator::None,
            importance,
            honored: false,
            dynamic: false,
            doc,
        }
    }

    pub(crate) const fn valid(mut self, validator: Validator) -> ConfigKey {
        self.validator = validator;
        self
    }

    pub(crate) const fn honored(mut self) -> ConfigKey {
        self.honored = true;
        self
    }

    pub(crate) const fn dynamic(mut self) -> ConfigKey {
        self.dynamic = true;
        self
    }

    pub fn is_sensitive(&self) -> bool {
        self.ty == ConfigType::Password
    }

    /// Parses and validates `raw` for this key.
    pub fn parse(&self, raw: &str) -> Result<Value, Problem> {
        let value = parse_typed(self.ty, raw)?;
        check(&self.validator, &value)?;
        Ok(value)
    }

    /// The parsed default, `None` when Kafka's default is `null`.
    pub fn default_value(&self) -> Option<Value> {
        self.default.map(|d| {
            self.parse(d)
                .unwrap_or_else(|p| panic!("bad default {d:?} for {}: {p}", self.name))
        })
    }
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Boolean(bool),
    String(String),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    List(Vec<String>),
    Class(String),
    Password(String),
}

impl Value {
    /// Kafka's `ConfigDef.convertToString`: what DescribeConfigs reports.
    pub fn to_kafka_string(&self) -> String {
        match self {
            Value::Boolean(b) => b.to_string(),
            Value::String(s) | Value::Class(s) | Value::Password(s) => s.clone(),
            Value::Int(v) => v.to_string(),
            Value::Short(v) => v.to_string(),
            Value::Long(v) => v.to_string(),
            Value::Double(v) => java_double_string(*v),
            Value::List(items) => items.join(","),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer type widened to i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(i64::from(*v)),
            Value::Short(v) => Some(i64::from(*v)),
            Value::Long(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(v) => Some(*v),
            other => other.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Class(s) | Value::Password(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

/// Why a value was rejected. Displays in Rill's words; [`Problem::kafka_reason`]
/// gives Kafka's wording for INVALID_CONFIG messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not parseable as the key's type.
    NotA(ConfigType),
    /// An integer outside the type's range (e.g. 2^31 for an INT key).
    OutOfRange(ConfigType),
    AtLeast(i64),
    AtMost(i64),
    /// `item` is the offending list element, `None` for a single string.
    NotOneOf {
        item: Option<String>,
        allowed: &'static [&'static str],
    },
    Other(String),
}

impl Problem {
    /// The text after `Invalid value X for configuration K: ` in Kafka.
    pub fn kafka_reason(&self) -> String {
        match self {
            Problem::NotA(ConfigType::Boolean) => {
                "Expected value to be either true or false".to_owned()
            }
            Problem::NotA(ty) | Problem::OutOfRange(ty) => {
                format!("Not a number of type {}", ty.kafka_name())
            }
            Problem::AtLeast(min) => format!("Value must be at least {min}"),
            Problem::AtMost(max) => format!("Value must be no more than {max}"),
            Problem::NotOneOf { allowed, .. } => {
                format!("String must be one of: {}", allowed.join(", "))
            }
            Problem::Other(s) => s.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotA(ConfigType::Boolean) => f.write_str("expected true or false"),
            Problem::NotA(ConfigType::Double) => f.write_str("expected a number"),
            Problem::NotA(_) => f.write_str("expected an integer"),
            Problem::OutOfRange(ConfigType::Int) => {
                write!(f, "expected an integer from {} to {}", i32::MIN, i32::MAX)
            }
            Problem::OutOfRange(ConfigType::Short) => {
                write!(f, "expected an integer from {} to {}", i16::MIN, i16::MAX)
            }
            Problem::OutOfRange(_) => {
                write!(f, "expected an integer from {} to {}", i64::MIN, i64::MAX)
            }
            Problem::AtLeast(min) => write!(f, "must be at least {min}"),
            Problem::AtMost(max) => write!(f, "must be at most {max}"),
            Problem::NotOneOf {
                item: Some(item),
                allowed,
            } => write!(f, "'{item}' is not one of {}", allowed.join(", ")),
            Problem::NotOneOf {
                item: None,
                allowed,
            } => {
                write!(f, "expected one of {}", allowed.join(", "))
            }
            Problem::Other(s) => f.write_str(s),
        }
    }
}

/// `ConfigDef.parseType`: trims, then parses by type.
pub fn parse_typed(ty: ConfigType, raw: &str) -> Result<Value, Problem> {
    let s = raw.trim();
    Ok(match ty {
        ConfigType::Boolean => {
            if s.eq_ignore_ascii_case("true") {
                Value::Boolean(true)
            } else if s.eq_ignore_ascii_case("false") {
                Value::Boolean(false)
            } else {
                return Err(Problem::NotA(ty));
            }
        }
        ConfigType::String => Value::String(s.to_owned()),
        ConfigType::Class => Value::Class(s.to_owned()),
        ConfigType::Password => Value::Password(s.to_owned()),
        ConfigType::Int => Value::Int(parse_int(s, ty)?),
        ConfigType::Short => Value::Short(parse_int(s, ty)?),
        ConfigType::Long => Value::Long(parse_int(s, ty)?),
        ConfigType::Double => Value::Double(parse_double(s).ok_or(Problem::NotA(ty))?),
        ConfigType::List => Value::List(split_list(s)),
    })
}

fn parse_int<T: TryFrom<i128>>(s: &str, ty: ConfigType) -> Result<T, Problem> {
    // Parse wide first so "2147483648" for an INT says "out of range", not "not a number".
    let wide: i128 = s.parse().map_err(|_| Problem::NotA(ty))?;
    T::try_from(wide).map_err(|_| Problem::OutOfRange(ty))
}

/// Java's `Double.parseDouble`, including a trailing `d`/`f` suffix.
fn parse_double(s: &str) -> Option<f64> {
    let body = s
        .strip_suffix(['d', 'D', 'f', 'F'])
        .filter(|b| !b.is_empty() && !b.ends_with(['e', 'E']))
        .unwrap_or(s);
    match body {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ if body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) =>
        {
            body.parse().ok()
        }
        _ => None,
    }
}

/// Kafka's LIST parsing: comma separated, items trimmed, empty string = empty list.
pub fn split_list(s: &str) -> Vec<String> {
    let s = s.trim();
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|item| item.trim().to_owned()).collect()
}

fn check(validator: &Validator, value: &Value) -> Result<(), Problem> {
    match validator {
        Validator::None => Ok(()),
        Validator::Range { min, max } => {
            let Some(v) = value.as_f64() else {
                return Ok(());
            };
            if let Some(min) = min {
                if v < *min as f64 {
                    return Err(Problem::AtLeast(*min));
                }
            }
            if let Some(max) = max {
                if v > *max as f64 {
                    return Err(Problem::AtMost(*max));
                }
            }
            Ok(())
        }
        Validator::OneOf(allowed) => match value.as_str() {
            Some(s) if !allowed.contains(&s) => Err(Problem::NotOneOf {
                item: None,
                allowed,
            }),
            _ => Ok(()),
        },
        Validator::OneOfIgnoreCase(allowed) => match value.as_str() {
            Some(s) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(s)) => {
                Err(Problem::NotOneOf {
                    item: None,
                    allowed,
                })
            }
            _ => Ok(()),
        },
        Validator::ListOf(allowed) => {
            for item in value.as_list().unwrap_or_default() {
                if !allowed.contains(&item.as_str()) {
                    return Err(Problem::NotOneOf {
                        item: Some(item.clone()),
                        allowed,
                    });
                }
            }
            Ok(())
        }
        Validator::ApiVersion => match value.as_str() {
            Some(s) if !is_api_version(s) => Err(Problem::Other(format!(
                "Version `{s}` is not a valid version"
            ))),
            _ => Ok(()),
        },
        Validator::ThrottledReplicas => {
            let items = value.as_list().unwrap_or_default();
            let ok = (items.len() == 1 && items[0] == "*")
                || items.iter().all(|item| {
                    item.split_once(':').is_some_and(|(p, b)| {
                        p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
                    })
                });
            if ok {
                Ok(())
            } else {
                Err(Problem::Other(
                    "must be the literal '*' or a list of replicas in the following format: \
                     [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                        .to_owned(),
                ))
            }
        }
    }
}

/// `0.10.2`, `2.8-IV1`, `3.0`: dotted numbers with an optional `-IVn`.
fn is_api_version(s: &str) -> bool {
    let (numbers, iv) = match s.split_once('-') {
        Some((n, iv)) => (n, Some(iv)),
        None => (s, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    let numbers_ok = (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let iv_ok = match iv {
        None => true,
        Some(iv) => iv
            .strip_prefix("IV")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
    };
    numbers_ok && iv_ok
}

/// Java's `Double.toString`: plain notation in [1e-3, 1e7), otherwise
/// `d.dddE±n`, always with a fractional digit ("1.0", "1.0E10").
pub fn java_double_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = v.to_string();
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').expect("exponent in {:e} output");
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_formatting() {
        assert_eq!(java_double_string(f64::MAX), "1.7976931348623157E308");
        assert_eq!(java_double_string(0.5), "0.5");
        assert_eq!(java_double_string(1.0), "1.0");
        assert_eq!(java_double_string(0.9), "0.9");
        assert_eq!(java_double_string(1e10), "1.0E10");
        assert_eq!(java_double_string(1.5e-4), "1.5E-4");
        assert_eq!(java_double_string(1234567.0), "1234567.0");
    }

    #[test]
    fn parses_like_config_def() {
        assert_eq!(
            parse_typed(ConfigType::Double, "1.7976931348623157E308"),
            Ok(Value::Double(f64::MAX))
        );
        assert_eq!(
            parse_typed(ConfigType::Double, "2d"),
            Ok(Value::Double(2.0))
        );
        assert_eq!(
            parse_typed(ConfigType::Long, " 9223372036854775807 "),
            Ok(Value::Long(i64::MAX))
        );
        assert_eq!(
            parse_typed(ConfigType::Int, "9223372036854775807"),
            Err(Problem::OutOfRange(ConfigType::Int))
        );
        assert_eq!(
            parse_typed(ConfigType::Int, "abc"),
            Err(Problem::NotA(ConfigType::Int))
        );
        assert_eq!(
            parse_typed(ConfigType::Boolean, "TRUE"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            parse_typed(ConfigType::Boolean, "yes"),
            Err(Problem::NotA(ConfigType::Boolean))
        );
        assert_eq!(
            parse_typed(ConfigType::List, " delete , compact "),
            Ok(Value::List(vec!["delete".into(), "compact".into()]))
        );
        assert_eq!(parse_typed(ConfigType::List, ""), Ok(Value::List(vec![])));
    }

    #[test]
    fn api_versions() {
        for ok in ["0.8.0", "0.10.2-IV0", "3.0", "3.0-IV1", "2.8.1"] {
            assert!(is_api_version(ok), "{ok}");
        }
        for bad in ["3", "three", "3.0-IV", "3.0-x1", ""] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }
}
