//! A synthetic Lightdash organisation of any size, for the scale benchmark and tests. No I/O,
//! no randomness from outside: the same [`SyntheticSpec`] always gives the same content.
//!
//! Shapes follow the bundled demo content (nested spaces, dashboards with tabs, markdown and
//! heading tiles and filters, charts of several kinds on realistic explores), multiplied.

use lightdash_dot_sync::demo::content::{
    ChartContent, DashboardContent, LightdashContent, ProjectContent,
};
use lightdash_dot_sync::lightdash::types::{
    ChartConfig, ChartDetails, ChartKind, ChartSource, ChartSummary, ChartType, DashboardDetails,
    DashboardFilters, DashboardSummary, DashboardTab, DashboardTile, Explore, ExploreField,
    ExploreTable, FieldTarget, FilterNode, FilterOperator, FilterRule, MetricQuery, Project,
    ProjectType, SortField, SpaceSummary, TileProperties, TileType, UserRef,
};

/// How big the organisation is.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticSpec {
    /// Projects (content is split evenly).
    pub projects: usize,
    /// Spaces in all.
    pub spaces: usize,
    /// Dashboards in all.
    pub dashboards: usize,
    /// Charts in all.
    pub charts: usize,
    /// Explores per project.
    pub explores: usize,
    /// Seed for the deterministic generator.
    pub seed: u64,
}

impl SyntheticSpec {
    /// The benchmark's target size: 10,000 charts, 2,000 dashboards, 500 spaces.
    pub fn large() -> Self {
        Self {
            projects: 1,
            spaces: 500,
            dashboards: 2_000,
            charts: 10_000,
            explores: 25,
            seed: 7,
        }
    }

    /// `assets` in all, in the proportions of [`Self::large`] (1 space : 4 dashboards : 20
    /// charts): 50,000 is 2,000 spaces, 8,000 dashboards and 40,000 charts.
    pub fn assets(assets: usize) -> Self {
        Self {
            spaces: assets / 25,
            dashboards: assets * 4 / 25,
            charts: assets * 4 / 5,
            ..Self::large()
        }
    }

    /// The same shape `factor` times larger (explores and projects unchanged).
    pub fn times(self, factor: usize) -> Self {
        Self {
            spaces: self.spaces * factor,
            dashboards: self.dashboards * factor,
            charts: self.charts * factor,
            ..self
        }
    }

    /// Assets in all.
    pub fn total(&self) -> usize {
        self.spaces + self.dashboards + self.charts
    }

    /// A size CI can afford in seconds.
    pub fn smoke() -> Self {
        Self {
            projects: 1,
            spaces: 40,
            dashboards: 120,
            charts: 600,
            explores: 6,
            seed: 7,
        }
    }
}

/// A deterministic uuid for item `n` of kind `k`.
pub fn uuid(k: u32, n: usize) -> String {
    format!("{k:08x}-5e5e-4000-8000-{n:012x}")
}

const KINDS: [(ChartKind, ChartType, &str); 8] = [
    (ChartKind::Line, ChartType::Cartesian, "line"),
    (ChartKind::VerticalBar, ChartType::Cartesian, "bar"),
    (ChartKind::HorizontalBar, ChartType::Cartesian, "bar"),
    (ChartKind::Area, ChartType::Cartesian, "line"),
    (ChartKind::Table, ChartType::Table, ""),
    (ChartKind::BigNumber, ChartType::BigNumber, ""),
    (ChartKind::Pie, ChartType::Pie, ""),
    (ChartKind::Funnel, ChartType::Funnel, ""),
];

const SUBJECTS: [&str; 10] = [
    "orders",
    "customers",
    "payments",
    "order_items",
    "web_sessions",
    "subscriptions",
    "invoices",
    "support_tickets",
    "inventory",
    "marketing_spend",
];

fn field(table: &str, table_label: &str, name: &str, kind: &str, i: usize) -> ExploreField {
    let label = name.replace('_', " ");
    let label = format!("{}{}", label[..1].to_uppercase(), &label[1..]);
    ExploreField {
        name: name.to_owned(),
        label: Some(label.clone()),
        table: table.to_owned(),
        table_label: Some(table_label.to_owned()),
        description: Some(format!(
            "{label} of the {table_label} model, as defined in dbt (field {i}). Counted in the warehouse time zone."
        )),
        field_type: Some(kind.to_owned()),
        hidden: false,
        time_interval: None,
        ai_hint: i
            .is_multiple_of(7)
            .then(|| format!("Prefer this field for questions about {label}.")),
        ..Default::default()
    }
}

fn explore(n: usize) -> Explore {
    let base = SUBJECTS[n % SUBJECTS.len()];
    let name = format!("{base}_{n}");
    let joined = format!("{}_{n}", SUBJECTS[(n + 1) % SUBJECTS.len()]);
    let mut tables = std::collections::BTreeMap::new();
    for (t, label) in [
        (name.clone(), format!("{} {n}", base.replace('_', " "))),
        (joined.clone(), format!("Joined {n}")),
    ] {
        let mut dimensions = std::collections::BTreeMap::new();
        let mut metrics = std::collections::BTreeMap::new();
        for i in 0..15 {
            let d = format!("dimension_{i}");
            dimensions.insert(
                d.clone(),
                field(
                    &t,
                    &label,
                    &d,
                    if i % 5 == 0 { "date" } else { "string" },
                    i,
                ),
            );
            if i % 5 == 0 {
                for part in ["day", "week", "month", "quarter", "year"] {
                    let dp = format!("{d}_{part}");
                    dimensions.insert(dp.clone(), field(&t, &label, &dp, "date", i));
                }
            }
        }
        for i in 0..10 {
            let m = format!("metric_{i}");
            metrics.insert(
                m.clone(),
                field(
                    &t,
                    &label,
                    &m,
                    ["sum", "count", "average", "count_distinct"][i % 4],
                    i,
                ),
            );
        }
        tables.insert(
            t.clone(),
            ExploreTable {
                name: t.clone(),
                label: Some(label.clone()),
                description: Some(format!("The {label} model.")),
                dimensions,
                metrics,
                ..Default::default()
            },
        );
    }
    Explore {
        name: name.clone(),
        label: Some(name.replace('_', " ")),
        base_table: Some(name),
        tables,
        ..Default::default()
    }
}

/// Builds the organisation.
pub fn synthetic(spec: SyntheticSpec) -> LightdashContent {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let projects = spec.projects.max(1);
    let mut out = LightdashContent::default();
    let per = |total: usize, p: usize| total / projects + usize::from(p < total % projects);
    let (mut space_n, mut dash_n, mut chart_n) = (0usize, 0usize, 0usize);
    for p in 0..projects {
        let project_uuid = uuid(0x50, p);
        let explores: Vec<Explore> = (0..spec.explores.max(1)).map(explore).collect();

        // Spaces: a forest, roots first, each later space under an earlier one (depth <= 4).
        let n_spaces = per(spec.spaces, p).max(1);
        let mut spaces: Vec<SpaceSummary> = Vec::with_capacity(n_spaces);
        let mut depth: Vec<usize> = Vec::with_capacity(n_spaces);
        for i in 0..n_spaces {
            let roots = (n_spaces / 10).max(1);
            let parent = if i < roots {
                None
            } else {
                let mut j = rng.usize(..i);
                while depth[j] >= 3 {
                    j = rng.usize(..roots);
                }
                Some(j)
            };
            depth.push(parent.map(|j| depth[j] + 1).unwrap_or(0));
            let name = format!(
                "Team {} space {i}",
                ["Sales", "Finance", "Marketing", "Ops", "Product"][i % 5]
            );
            let slug = format!("team-space-{i}");
            let path = match parent {
                Some(j) => format!(
                    "{}.{}",
                    spaces[j].path.clone().unwrap_or_default(),
                    slug.replace('-', "_")
                ),
                None => slug.replace('-', "_"),
            };
            spaces.push(SpaceSummary {
                uuid: uuid(0x5a, space_n),
                name,
                slug: Some(slug),
                is_private: false,
                parent_space_uuid: parent.map(|j| spaces[j].uuid.clone()),
                path: Some(path),
                dashboard_count: 0,
                chart_count: 0,
                ..Default::default()
            });
            space_n += 1;
        }

        let editor = UserRef {
            user_uuid: Some(uuid(0x0e, 1).into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
        };
        let n_charts = per(spec.charts, p);
        let mut charts = Vec::with_capacity(n_charts);
        for i in 0..n_charts {
            let (kind, chart_type, series) = KINDS[i % KINDS.len()].clone();
            let e = &explores[rng.usize(..explores.len())];
            let base = e.base_table.clone().unwrap_or_default();
            let joined = e
                .tables
                .keys()
                .find(|t| **t != base)
                .cloned()
                .unwrap_or_else(|| base.clone());
            let metrics = vec![
                format!("{base}_metric_{}", rng.usize(..10)),
                format!("{joined}_metric_{}", rng.usize(..10)),
            ];
            let dimensions = vec![
                format!("{base}_dimension_{}_month", 5 * rng.usize(..3)),
                format!("{joined}_dimension_{}", 1 + rng.usize(..4)),
            ];
            let slug = format!("chart-{chart_n}");
            let chart_uuid = uuid(0xc4, chart_n);
            let name = format!("{} by month #{chart_n}", metrics[0].replace('_', " "));
            let updated = format!("2026-0{}-1{}T10:00:00.000Z", 1 + i % 9, i % 10);
            let filters = lightdash_dot_sync::lightdash::types::ChartFilters {
                dimensions: Some(FilterNode::And(vec![
                    FilterNode::Rule(FilterRule {
                        target: FieldTarget {
                            field_id: dimensions[1].clone(),
                            table_name: None,
                            ..Default::default()
                        },
                        operator: FilterOperator::Equals,
                        values: vec!["Banking".into(), "Technology".into()],
                        ..Default::default()
                    }),
                    FilterNode::Rule(FilterRule {
                        target: FieldTarget {
                            field_id: format!("{base}_dimension_0"),
                            table_name: None,
                            ..Default::default()
                        },
                        operator: FilterOperator::InThePast,
                        values: vec![12.into()],
                        settings: Some(
                            serde_json::json!({"unitOfTime": "months", "completed": true}),
                        ),
                        ..Default::default()
                    }),
                ])),
                ..Default::default()
            };
            let details = ChartDetails {
                uuid: Some(chart_uuid.clone()),
                slug: Some(slug.clone()),
                name: name.clone(),
                description: Some(format!(
                    "Synthetic chart {chart_n} for the scale benchmark."
                )),
                table_name: Some(e.name.clone()),
                metric_query: MetricQuery {
                    explore_name: Some(e.name.clone()),
                    dimensions: dimensions.clone(),
                    metrics: metrics.clone(),
                    filters,
                    sorts: vec![SortField {
                        field_id: dimensions[0].clone(),
                        descending: false,
                    }],
                    limit: Some(500),
                    ..Default::default()
                },
                chart_config: ChartConfig {
                    chart_type: chart_type.clone(),
                    config: (!series.is_empty()).then(|| {
                        lightdash_dot_sync::lightdash::types::ChartConfigDetails {
                            layout: Some(lightdash_dot_sync::lightdash::types::CartesianLayout {
                                x_field: Some(dimensions[0].clone()),
                                y_field: metrics.clone(),
                                flip_axes: kind == ChartKind::HorizontalBar,
                            }),
                            e_charts_config: Some(
                                lightdash_dot_sync::lightdash::types::EChartsConfig {
                                    series: vec![lightdash_dot_sync::lightdash::types::Series {
                                        series_type: Some(series.to_owned()),
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                },
                            ),
                            ..Default::default()
                        }
                    }),
                },
                pivot_config: None,
                updated_at: Some(updated.clone()),
                space_slug: None,
                dashboard_slug: None,
                dashboard_uuid: None,
                ..Default::default()
            };
            let summary = ChartSummary {
                uuid: chart_uuid,
                name,
                description: details.description.as_deref().map(Into::into),
                slug: Some(slug.into()),
                space_uuid: spaces[rng.usize(..spaces.len())].uuid.clone(),
                dashboard_uuid: None,
                dashboard_name: None,
                updated_at: Some(updated),
                updated_by_user: Some(editor.clone().into()),
                views: rng.u64(..5_000),
                chart_kind: Some(kind),
                chart_type: Some(chart_type),
                source: Some(ChartSource::DbtExplore),
                ..Default::default()
            };
            charts.push(ChartContent { summary, details });
            chart_n += 1;
        }

        let n_dash = per(spec.dashboards, p);
        let mut dashboards = Vec::with_capacity(n_dash);
        for i in 0..n_dash {
            let dash_uuid = uuid(0xda, dash_n);
            let tabs: Vec<DashboardTab> = if i % 2 == 0 {
                vec![
                    DashboardTab {
                        uuid: uuid(0x7a, dash_n * 2),
                        name: "Overview".into(),
                        order: 0.0,
                        hidden: false,
                        ..Default::default()
                    },
                    DashboardTab {
                        uuid: uuid(0x7a, dash_n * 2 + 1),
                        name: "Details".into(),
                        order: 1.0,
                        hidden: false,
                        ..Default::default()
                    },
                ]
            } else {
                Vec::new()
            };
            let n_tiles = 6 + rng.usize(..7);
            let mut tiles = Vec::with_capacity(n_tiles);
            for t in 0..n_tiles {
                let tab_uuid = tabs.get(t % tabs.len().max(1)).map(|tab| tab.uuid.clone());
                let (tile_type, properties) = match t {
                    0 => (TileType::Heading, TileProperties { text: Some(format!("Section {i}")), ..Default::default() }),
                    1 => (TileType::Markdown, TileProperties {
                        title: Some("How to read this".into()),
                        content: Some("Numbers are **gross**, in USD.\n\n- Dates in UTC\n- Refreshed hourly".into()),
                        ..Default::default()
                    }),
                    _ if n_charts > 0 => {
                        let c = &charts[rng.usize(..n_charts)];
                        (TileType::SavedChart, TileProperties {
                            saved_chart_uuid: Some(c.summary.uuid.clone()),
                            chart_name: Some(c.summary.name.clone()),
                            ..Default::default()
                        })
                    }
                    _ => (TileType::Loom, TileProperties { title: Some("Walkthrough".into()), ..Default::default() }),
                };
                tiles.push(DashboardTile {
                    uuid: Some(uuid(0x71, dash_n * 16 + t)),
                    tile_type,
                    x: ((t % 3) * 12) as f64,
                    y: ((t / 3) * 6) as f64,
                    w: 12.0,
                    h: 6.0,
                    tab_uuid,
                    tile_slug: None,
                    properties,
                    ..Default::default()
                });
            }
            let e = &explores[i % explores.len()];
            let base = e.base_table.clone().unwrap_or_default();
            let details = DashboardDetails {
                uuid: Some(dash_uuid.clone()),
                slug: Some(format!("dashboard-{dash_n}")),
                name: format!("Dashboard {dash_n}"),
                description: Some(format!("Synthetic dashboard {dash_n}.")),
                updated_at: Some("2026-10-01T09:00:00.000Z".into()),
                updated_by_user: Some(editor.clone()),
                tabs,
                filters: DashboardFilters {
                    dimensions: vec![FilterRule {
                        target: FieldTarget {
                            field_id: format!("{base}_dimension_0"),
                            table_name: Some(base.clone()),
                            ..Default::default()
                        },
                        operator: FilterOperator::InThePast,
                        values: vec![12.into()],
                        settings: Some(
                            serde_json::json!({"unitOfTime": "months", "completed": true}),
                        ),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                tiles,
                space_slug: None,
                ..Default::default()
            };
            let summary = DashboardSummary {
                uuid: dash_uuid,
                name: details.name.clone(),
                description: details.description.as_deref().map(Into::into),
                space_uuid: spaces[rng.usize(..spaces.len())].uuid.clone(),
                updated_at: details.updated_at.clone(),
                updated_by_user: Some(editor.clone().into()),
                views: rng.u64(..20_000),
                slug: details.slug.as_deref().map(Into::into),
                ..Default::default()
            };
            dashboards.push(DashboardContent { summary, details });
            dash_n += 1;
        }
        out.projects.push(ProjectContent {
            project: Project {
                project_uuid,
                name: format!("Synthetic project {p}"),
                project_type: ProjectType::Default,
            },
            spaces,
            dashboards,
            charts,
            explores,
            trash: Vec::new(),
            trashed_charts: Vec::new(),
            trashed_dashboards: Vec::new(),
            parameters: Default::default(),
        });
    }
    out
}
