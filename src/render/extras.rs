//! Small sections the chart and dashboard renderers share: verified status and parameters.
//! PURE.
//!
//! Shapes: `ContentVerificationInfo` (`packages/common/src/types/contentVerification.ts`),
//! chart `parameters` (`ParametersValuesMap`) and dashboard `parameters`
//! (`DashboardParameters`, values `{parameterName, value}`) with `config.pinnedParameters`
//! (`packages/common/src/types/parameters.ts`, `dashboard.ts`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::lightdash::types::{
    DashboardParameter, ParameterDefinition, ParameterDefinitions, UserRef, Verification,
};

use super::escape;

/// Most values listed for one parameter.
const MAX_VALUES: usize = 20;

/// "Verified by Jane Doe on 2026-10-02", escaped; `None` when not verified.
pub fn verification_line(v: Option<&Verification>) -> Option<String> {
    let v = v?;
    let who = v
        .verified_by
        .as_ref()
        .and_then(UserRef::display_name)
        .map(|n| escape::inline(&n));
    let when = v
        .verified_at
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| escape::inline(&s.chars().take(10).collect::<String>()));
    Some(match (who, when) {
        (Some(w), Some(d)) => format!("Verified by {w} on {d}"),
        (Some(w), None) => format!("Verified by {w}"),
        (None, Some(d)) => format!("Verified on {d}"),
        (None, None) => "Verified".to_owned(),
    })
}

/// A parameter value in words: strings and numbers as they are, lists joined.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(escape::inline(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(value_text).collect();
            if parts.is_empty() {
                return None;
            }
            let more = items.len().saturating_sub(MAX_VALUES);
            let mut s = parts
                .into_iter()
                .take(MAX_VALUES)
                .collect::<Vec<_>>()
                .join(", ");
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
            Some(s)
        }
        _ => None,
    }
}

/// An option of a definition in words: a value, or a `{label, value}` pair's label.
fn option_text(v: &Value) -> Option<String> {
    match v.get("label").or(v.get("value")) {
        Some(inner) => value_text(inner),
        None => value_text(v),
    }
}

/// What a parameter's definition adds after its name: its label, what may be chosen, and the
/// project default; e.g. ` (Region; one of EMEA, APAC; project default EMEA)`.
fn definition_text(name: &str, def: Option<&ParameterDefinition>) -> String {
    let Some(def) = def else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(label) = def
        .label
        .as_deref()
        .filter(|l| !l.trim().is_empty() && l.trim() != name)
    {
        parts.push(escape::inline(label));
    }
    let options: Vec<String> = def.options.iter().filter_map(option_text).collect();
    let several = if def.multiple { "any of" } else { "one of" };
    if !options.is_empty() {
        let more = options.len().saturating_sub(MAX_VALUES);
        let mut list = options
            .into_iter()
            .take(MAX_VALUES)
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        let custom = if def.allow_custom_values {
            ", or any value"
        } else {
            ""
        };
        parts.push(format!("{several} {list}{custom}"));
    } else if let Some(from) = &def.options_from_dimension {
        parts.push(format!(
            "{several} the values of {}",
            escape::inline(&format!("{}.{}", from.model, from.dimension))
        ));
    }
    if let Some(d) = def.default.as_ref().and_then(value_text) {
        parts.push(format!("project default {d}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// A chart's saved parameter values, one bullet each (`- name (definition): value`), by name.
pub fn chart_parameter_lines(
    parameters: Option<&BTreeMap<String, Value>>,
    definitions: &ParameterDefinitions,
) -> Vec<String> {
    parameters
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let about = definition_text(name, definitions.get(name));
            match value_text(value) {
                Some(v) => format!("- {}{about}: {v}", escape::inline(name)),
                None => format!("- {}{about}: (no value saved)", escape::inline(name)),
            }
        })
        .collect()
}

/// A dashboard's parameters: each with its default value, pinned ones first and marked.
pub fn dashboard_parameter_lines(
    parameters: Option<&BTreeMap<String, DashboardParameter>>,
    pinned: &[String],
    definitions: &ParameterDefinitions,
) -> Vec<String> {
    let mut items: Vec<(&String, &DashboardParameter)> = parameters.into_iter().flatten().collect();
    items.sort_by_key(|(key, p)| {
        let name = p.parameter_name.as_deref().unwrap_or(key);
        (
            !pinned.iter().any(|x| x == name || x == *key),
            name.to_owned(),
        )
    });
    items
        .into_iter()
        .map(|(key, p)| {
            let name = p.parameter_name.as_deref().unwrap_or(key);
            let pin = if pinned.iter().any(|x| x == name || x == key) {
                " (pinned)"
            } else {
                ""
            };
            let about = definition_text(name, definitions.get(name));
            match value_text(&p.value) {
                Some(v) => format!("- {}{pin}{about}: default {v}", escape::inline(name)),
                None => format!("- {}{pin}{about}: no default", escape::inline(name)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_names_who_and_when() {
        let v = Verification {
            verified_by: Some(UserRef {
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                ..Default::default()
            }),
            verified_at: Some("2026-10-02T09:15:00.000Z".into()),
        };
        assert_eq!(
            verification_line(Some(&v)).as_deref(),
            Some("Verified by Ada Lovelace on 2026-10-02")
        );
        assert_eq!(verification_line(None), None);
        assert_eq!(
            verification_line(Some(&Verification::default())).as_deref(),
            Some("Verified")
        );
    }

    #[test]
    fn parameters_list_names_defaults_and_pins() {
        let dash: BTreeMap<String, DashboardParameter> =
            serde_json::from_value(serde_json::json!({
                "region": {"parameterName": "region", "value": ["EMEA", "APAC"]},
                "currency": {"parameterName": "currency", "value": "EUR"},
                "min": {"parameterName": "min", "value": 10}
            }))
            .unwrap();
        let defs: ParameterDefinitions = serde_json::from_value(serde_json::json!({
            "region": {"label": "Sales region", "multiple": true,
                       "options": ["EMEA", "APAC", "AMER"], "default": "EMEA"},
            "currency": {"label": "currency", "options": [{"label": "Euro", "value": "EUR"}],
                         "allow_custom_values": true},
            "min": {"label": "Minimum", "options_from_dimension": {"model": "orders", "dimension": "amount"}}
        }))
        .unwrap();
        assert_eq!(
            dashboard_parameter_lines(Some(&dash), &["region".into()], &defs),
            [
                "- region (pinned) (Sales region; any of EMEA, APAC, AMER; project default EMEA): default EMEA, APAC",
                "- currency (one of Euro, or any value): default EUR",
                "- min (Minimum; one of the values of orders.amount): default 10"
            ]
        );
        assert_eq!(
            dashboard_parameter_lines(Some(&dash), &[], &ParameterDefinitions::new())[2],
            "- region: default EMEA, APAC"
        );
        let chart: BTreeMap<String, Value> =
            serde_json::from_value(serde_json::json!({"currency": "USD", "empty": []})).unwrap();
        assert_eq!(
            chart_parameter_lines(Some(&chart), &defs),
            [
                "- currency (one of Euro, or any value): USD",
                "- empty: (no value saved)"
            ]
        );
        assert!(chart_parameter_lines(None, &defs).is_empty());
    }

    /// Newest as-code dashboards place tiles by `tabSlug` (older payloads by `tabUuid`); data
    /// apps and tile types this build does not know render by title and type; parameters list
    /// with their defaults, pinned first. Shapes: `DashboardAsCode`, `DashboardTileAsCode`
    /// (`packages/common/src/types/contentAsCode/dashboards.ts`).
    #[test]
    fn dashboard_tabs_by_slug_or_uuid_new_tiles_and_parameters() {
        use crate::lightdash::types::{DashboardDetails, DashboardSummary, Project, ProjectType};
        use crate::render::{ChartIndex, Explores, ProjectView, RenderOptions, SpaceTree};
        let details: DashboardDetails = serde_json::from_value(serde_json::json!({
            "name": "Plan", "slug": "plan", "spaceSlug": "shared",
            "tabs": [
                {"slug": "overview", "name": "Overview", "order": 0},
                {"uuid": "t-2", "name": "Apps", "order": 1}
            ],
            "tiles": [
                {"type": "heading", "x": 0, "y": 0, "w": 36, "h": 1, "tabSlug": "overview",
                 "properties": {"text": "Top line"}},
                {"type": "data_app", "x": 0, "y": 0, "w": 12, "h": 6, "tabUuid": "t-2",
                 "properties": {"title": "Pipeline planner", "appSlug": "pipeline-planner"}},
                {"type": "data_app", "x": 0, "y": 6, "w": 12, "h": 6, "tabSlug": "nope",
                 "properties": {"title": "Old app", "appDeletedAt": "2026-10-01T00:00:00Z"}},
                {"type": "fancy_map", "x": 0, "y": 9, "w": 12, "h": 6, "tabUuid": "t-2",
                 "properties": {"title": "Store map"}}
            ],
            "parameters": {"region": {"parameterName": "region", "value": "EMEA"}},
            "config": {"isDateZoomDisabled": false, "pinnedParameters": ["region"]}
        }))
        .unwrap();
        let project = Project {
            project_uuid: "p".into(),
            name: "P".into(),
            project_type: ProjectType::Default,
        };
        let tree = SpaceTree::default();
        let options = RenderOptions {
            site_url: "https://ld.example".into(),
            max_description_chars: 100_000,
        };
        let view = ProjectView {
            project: &project,
            spaces: &tree,
            options: &options,
        };
        let summary = DashboardSummary {
            uuid: "d".into(),
            name: "Plan".into(),
            space_uuid: "s".into(),
            ..Default::default()
        };
        let md = crate::render::render_dashboard(
            &view,
            &summary,
            &details,
            &ChartIndex::default(),
            &Explores::new(),
        )
        .dot_description
        .unwrap();
        let overview = md.find("## Tab: Overview").unwrap();
        let apps = md.find("## Tab: Apps").unwrap();
        let heading = md.find("### Top line (section heading)").unwrap();
        let planner = md.find("### Pipeline planner (data app)").unwrap();
        // An unknown tab slug falls back to the first tab, as Lightdash shows it.
        let old = md.find("### Old app (data app, deleted)").unwrap();
        let map = md
            .find("### Store map (tile of unknown type fancy\\_map)")
            .unwrap_or_else(|| {
                md.find("### Store map (tile of unknown type fancy_map)")
                    .unwrap()
            });
        assert!(overview < heading && heading < old && old < apps, "{md}");
        assert!(apps < planner && planner < map, "{md}");
        assert!(md.contains("## Parameters"), "{md}");
        assert!(md.contains("- region (pinned): default EMEA"), "{md}");
    }
}
