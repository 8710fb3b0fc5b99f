//! `build`: how `nimbus build` makes a component's `.wasm`. Either a command run in the
//! manifest's directory, or a table that also names the folder to run it in and where to write
//! the component's WIT world (the interfaces its grants allow), which the JavaScript and Python
//! toolchains build against.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

/// A component's `build`, with its paths resolved against the manifest's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// The shell command.
    pub command: String,
    /// The folder the command runs in.
    pub workdir: PathBuf,
    /// Where `nimbus build` writes the component's WIT world before running the command.
    pub wit: Option<PathBuf>,
}

/// `build` as written.
#[derive(Debug)]
pub(crate) struct RawBuild {
    command: String,
    workdir: Option<RelativePath>,
    wit: Option<RelativePath>,
}

impl RawBuild {
    pub(crate) fn resolve(self, manifest_dir: &Path) -> BuildSpec {
        let workdir = match self.workdir {
            Some(folder) => manifest_dir.join(folder.0),
            None => manifest_dir.to_path_buf(),
        };
        BuildSpec {
            command: self.command,
            wit: self.wit.map(|folder| workdir.join(folder.0)),
            workdir,
        }
    }
}

/// A relative path, so that the app's folder can move (the build command runs whatever it
/// says, so `..` is the author's choice).
#[derive(Debug)]
struct RelativePath(PathBuf);

impl TryFrom<String> for RelativePath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let path = PathBuf::from(&text);
        let relative = path.components().all(|part| {
            matches!(
                part,
                Component::Normal(_) | Component::CurDir | Component::ParentDir
            )
        });
        if text.is_empty() || !relative {
            return Err(format!(
                "`{text}` must be a path relative to the manifest's folder"
            ));
        }
        Ok(Self(path))
    }
}

impl<'de> Deserialize<'de> for RawBuild {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawBuildVisitor)
    }
}

struct RawBuildVisitor;

impl<'de> Visitor<'de> for RawBuildVisitor {
    type Value = RawBuild;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a command, or a table { command, workdir, wit }")
    }

    fn visit_str<E: de::Error>(self, command: &str) -> Result<RawBuild, E> {
        non_empty(command.to_owned())
            .map(|command| RawBuild {
                command,
                workdir: None,
                wit: None,
            })
            .map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawBuild, A::Error> {
        let mut command = None;
        let mut workdir = None;
        let mut wit = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "command" => {
                    command = Some(non_empty(map.next_value()?).map_err(de::Error::custom)?)
                }
                "workdir" => workdir = Some(relative(map.next_value()?)?),
                "wit" => wit = Some(relative(map.next_value()?)?),
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["command", "workdir", "wit"],
                    ));
                }
            }
        }
        let command = command.ok_or_else(|| de::Error::missing_field("command"))?;
        Ok(RawBuild {
            command,
            workdir,
            wit,
        })
    }
}

fn non_empty(command: String) -> Result<String, String> {
    if command.trim().is_empty() {
        return Err("the build command is empty".into());
    }
    Ok(command)
}

fn relative<E: de::Error>(text: String) -> Result<RelativePath, E> {
    RelativePath::try_from(text).map_err(E::custom)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::{BuildSpec, Manifest};

    fn build_of(build: &str) -> Result<Option<BuildSpec>, String> {
        let text = format!("[app]\nname = \"t\"\n[component.web]\nsource = \"a.wasm\"\n{build}\n");
        Manifest::parse(Path::new("app/nimbus.toml"), text)
            .map(|m| m.components[0].build.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_command_runs_in_the_manifests_folder() {
        let build = build_of("build = \"cargo build\"").expect("valid");
        assert_eq!(
            build,
            Some(BuildSpec {
                command: "cargo build".into(),
                workdir: PathBuf::from("app"),
                wit: None,
            })
        );
    }

    #[test]
    fn a_table_names_its_folder_and_its_wit_folder_inside_it() {
        let build =
            build_of("build = { command = \"npm run build\", workdir = \"web\", wit = \"wit\" }")
                .expect("valid")
                .expect("a build");
        assert_eq!(build.workdir, PathBuf::from("app/web"));
        assert_eq!(build.wit, Some(PathBuf::from("app/web/wit")));
    }

    #[test]
    fn absolute_paths_and_unknown_keys_are_refused_at_their_line() {
        for (build, says) in [
            (
                "build = { command = \"x\", workdir = \"/srv/web\" }",
                "relative to the manifest",
            ),
            (
                "build = { command = \"x\", wit = \"/etc\" }",
                "relative to the manifest",
            ),
            (
                "build = { command = \"x\", dir = \"web\" }",
                "unknown field `dir`",
            ),
            ("build = { workdir = \"web\" }", "missing field `command`"),
            ("build = \"  \"", "the build command is empty"),
            ("build = 3", "a command, or a table"),
        ] {
            let error = build_of(build).expect_err(build);
            assert!(error.contains(says), "{build}: {error}");
            assert!(error.contains("nimbus.toml:5"), "{build}: {error}");
        }
    }
}
