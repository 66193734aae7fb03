//! What the configuration shows of itself: secrets redacted in `Debug` and when serialised
//! ([`Secret`]), and the merged configuration rendered back as TOML (`tokpost config show`).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::REDACTED;

/// Renders a figment value tree as TOML: scalars first, then one table per section.
pub(super) fn render_toml(value: &figment::value::Value, path: &mut Vec<String>, out: &mut String) {
    use figment::value::Value;
    let Value::Dict(_, dict) = value else {
        return;
    };
    let (tables, scalars): (Vec<_>, Vec<_>) = dict
        .iter()
        .partition(|(_, value)| matches!(value, Value::Dict(..)));
    if !path.is_empty() && !scalars.is_empty() {
        out.push_str(&format!("\n[{}]\n", path.join(".")));
    }
    for (key, value) in scalars {
        out.push_str(&format!("{key} = {}\n", toml_scalar(value)));
    }
    for (key, value) in tables {
        path.push(key.clone());
        render_toml(value, path, out);
        path.pop();
    }
}

fn toml_scalar(value: &figment::value::Value) -> String {
    use figment::value::Value;
    match value {
        Value::String(_, text) => serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()),
        Value::Char(_, c) => serde_json::to_string(&c.to_string()).unwrap_or_default(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, num) => num
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| num.to_i128().map(|n| n.to_string()))
            .or_else(|| num.to_f64().map(|n| n.to_string()))
            .unwrap_or_default(),
        Value::Empty(..) => "\"\"".to_owned(),
        Value::Array(_, items) => format!(
            "[{}]",
            items.iter().map(toml_scalar).collect::<Vec<_>>().join(", ")
        ),
        Value::Dict(..) => "{}".to_owned(),
    }
}

/// A configured secret: redacted in `Debug` and when serialised, exposed only on purpose.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    /// Whether a non-empty value is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|secret| !secret.expose_secret().trim().is_empty())
    }

    /// The secret, when set.
    #[must_use]
    pub fn get(&self) -> Option<&SecretString> {
        self.0.as_ref().filter(|_| self.is_set())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { REDACTED } else { "<unset>" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.is_set() { REDACTED } else { "" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The redacted marker is what serialising the defaults produces for a set secret; it
        // never stands for a real value.
        if text.is_empty() || text == REDACTED {
            Ok(Self(None))
        } else {
            Ok(Self(Some(SecretString::from(text))))
        }
    }
}
