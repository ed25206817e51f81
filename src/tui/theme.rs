//! Semantic themes (roles such as `ok`, `warn`, `denied`), built in from `themes/*.toml`;
//! a user theme file may override part of one. `NO_COLOR` drops every colour.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};

pub const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

const ROLES: [&str; 15] = [
    "text",
    "muted",
    "title",
    "border",
    "focus_border",
    "header",
    "selected_bg",
    "ok",
    "warn",
    "error",
    "missing",
    "extra",
    "denied",
    "bar",
    "selected_fg",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    colors: BTreeMap<String, Color>,
    pub no_color: bool,
}

fn parse_color(text: &str) -> Option<Color> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#')
        && hex.len() == 6
    {
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    t.parse::<Color>().ok()
}

impl Theme {
    /// A built-in theme by name, or a theme file's text (read by the config) laid over the
    /// default theme; `no_color` drops all colours.
    pub fn load(name: &str, file_text: Option<&str>, no_color: bool) -> Result<Theme, String> {
        let text = match (file_text, BUILT_IN.iter().find(|(n, _)| *n == name)) {
            (Some(t), _) => t.to_string(),
            (None, Some((_, t))) => t.to_string(),
            (None, None) => {
                return Err(format!(
                    "theme '{name}' is not built in (dark, light, high-contrast); name one, or a theme file ending in .toml"
                ));
            }
        };
        let name = name.to_string();
        let mut theme = Theme::from_toml(&name, BUILT_IN[0].1)?;
        theme.merge(&text)?;
        theme.no_color = no_color;
        Ok(theme)
    }

    fn from_toml(name: &str, text: &str) -> Result<Theme, String> {
        let mut t = Theme {
            name: name.to_string(),
            colors: BTreeMap::new(),
            no_color: false,
        };
        t.merge(text)?;
        Ok(t)
    }

    fn merge(&mut self, text: &str) -> Result<(), String> {
        let table: BTreeMap<String, String> =
            toml::from_str(text).map_err(|e| format!("theme '{}': {}", self.name, e.message()))?;
        for (role, value) in table {
            if !ROLES.contains(&role.as_str()) {
                return Err(format!(
                    "theme '{}': unknown role '{role}'; roles are {}",
                    self.name,
                    ROLES.join(", ")
                ));
            }
            let c = parse_color(&value).ok_or_else(|| {
                format!(
                    "theme '{}': '{value}' for {role} is not a colour (a name or #rrggbb)",
                    self.name
                )
            })?;
            self.colors.insert(role, c);
        }
        Ok(())
    }

    fn color(&self, role: &str) -> Option<Color> {
        if self.no_color {
            None
        } else {
            self.colors.get(role).copied()
        }
    }

    /// Foreground style of a role.
    pub fn fg(&self, role: &str) -> Style {
        match self.color(role) {
            Some(c) => Style::default().fg(c),
            None => Style::default(),
        }
    }

    pub fn text(&self) -> Style {
        self.fg("text")
    }

    pub fn muted(&self) -> Style {
        let s = self.fg("muted");
        if self.no_color {
            s.add_modifier(Modifier::DIM)
        } else {
            s
        }
    }

    pub fn title(&self) -> Style {
        self.fg("title").add_modifier(Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        self.fg("header").add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg("focus_border").add_modifier(Modifier::BOLD)
        } else {
            self.fg("border")
        }
    }

    /// The selected row: a background colour, or reversed video without colour.
    pub fn selected(&self) -> Style {
        match self.color("selected_bg") {
            Some(c) => Style::default().bg(c).add_modifier(Modifier::BOLD),
            None => Style::default().add_modifier(Modifier::REVERSED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_themes_parse_and_define_every_role() {
        for (name, _) in BUILT_IN {
            let t = Theme::load(name, None, false).unwrap();
            for role in ROLES.iter().filter(|r| **r != "selected_fg") {
                assert!(t.color(role).is_some(), "{name} lacks {role}");
            }
        }
    }

    #[test]
    fn no_color_drops_colours_but_keeps_selection_visible() {
        let t = Theme::load("dark", None, true).unwrap();
        assert_eq!(t.fg("error"), Style::default());
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn user_theme_overrides_part_and_rejects_unknown_roles() {
        let t = Theme::load("mine.toml", Some("error = \"#010203\"\n"), false).unwrap();
        assert_eq!(t.color("error"), Some(Color::Rgb(1, 2, 3)));
        assert!(t.color("ok").is_some());
        let e = Theme::load("mine.toml", Some("eror = \"red\"\n"), false).unwrap_err();
        assert!(e.contains("unknown role 'eror'"), "{e}");
        let e = Theme::load("solarized", None, false).unwrap_err();
        assert!(e.contains("not built in"), "{e}");
    }
}
