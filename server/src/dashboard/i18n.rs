//! The dashboard's words in Vietnamese (the default) and English.

use taskforce_core::doc::ReviewState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// (key, Vietnamese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("app", "Theo dõi thực hiện chỉ thị", "Directive progress"),
    ("directive", "Chỉ thị", "Directive"),
    ("all_directives", "Mọi chỉ thị", "All directives"),
    ("sign_in", "Đăng nhập", "Sign in"),
    ("sign_out", "Đăng xuất", "Sign out"),
    (
        "live_changed",
        "Số liệu đã thay đổi từ khi trang này được mở.",
        "The figures have changed since this page was opened.",
    ),
    ("reload", "Tải lại", "Reload"),
    ("username", "Tên đăng nhập", "Username"),
    ("password", "Mật khẩu", "Password"),
    (
        "bad_login",
        "Sai tên đăng nhập hoặc mật khẩu.",
        "Wrong username or password.",
    ),
    ("overview", "Tổng quan", "Overview"),
    (
        "matrix",
        "Ma trận điều khoản × đơn vị",
        "Clause × unit matrix",
    ),
    ("hotlines", "Miễn cước đường dây nóng", "Hotline billing"),
    ("stale", "Đơn vị chưa báo cáo", "Units not reporting"),
    ("report", "Báo cáo Bộ trưởng", "Report to the Minister"),
    ("exports", "Xuất dữ liệu", "Exports"),
    ("clause", "Điều khoản", "Clause"),
    ("unit", "Đơn vị", "Unit"),
    ("units", "Đơn vị", "Units"),
    ("role", "Vai trò", "Role"),
    ("status", "Trạng thái", "Status"),
    ("progress", "Tiến độ", "Progress"),
    ("done", "Hoàn thành", "Done"),
    ("in_progress", "Đang thực hiện", "In progress"),
    ("todo", "Chưa thực hiện", "Not started"),
    ("blocked", "Vướng mắc", "Blocked"),
    ("overdue", "Quá hạn", "Overdue"),
    ("assigned", "Được giao", "Assigned"),
    ("due", "Hạn", "Due"),
    ("assignee", "Người thực hiện", "Assignee"),
    ("tasks", "Nhiệm vụ", "Tasks"),
    ("reports", "Báo cáo", "Reports"),
    (
        "confirmations",
        "Xác nhận miễn cước",
        "Hotline-free confirmations",
    ),
    ("carrier", "Nhà mạng", "Carrier"),
    ("hotline", "Đường dây nóng", "Hotline"),
    ("free_from", "Miễn cước từ", "Free from"),
    ("attested_by", "Người xác nhận", "Attested by"),
    ("period", "Kỳ báo cáo", "Period"),
    ("figures", "Số liệu", "Figures"),
    ("last_report", "Báo cáo gần nhất", "Last report"),
    ("days", "ngày", "days"),
    ("never", "Chưa báo cáo", "Never"),
    ("over_time", "Tiến độ theo thời gian", "Progress over time"),
    ("text", "Nội dung", "Text"),
    (
        "not_allowed",
        "Bạn không có quyền xem trang này.",
        "You may not see this page.",
    ),
    ("not_found", "Không tìm thấy.", "Not found."),
    ("conflict", "Xung đột", "Conflict"),
    ("confirmed", "Đã xác nhận", "Confirmed"),
    ("withdrawn", "Đã rút", "Withdrawn"),
    (
        "contradicted",
        "Mâu thuẫn với dữ liệu cước",
        "Contradicted by call records",
    ),
    ("missing", "Chưa xác nhận", "Missing"),
    ("charged_calls", "Cuộc gọi bị tính cước", "Calls charged"),
    (
        "hotline_register",
        "Danh mục đường dây nóng",
        "Hotline register",
    ),
    ("name", "Tên", "Name"),
    ("state", "Trạng thái", "State"),
    (
        "first_offending",
        "Các cuộc gọi đầu tiên bị tính cước",
        "First calls charged",
    ),
    ("line", "dòng", "line"),
    (
        "unregistered_numbers",
        "Xác nhận cho số không có trong danh mục",
        "Confirmations of numbers not on the register",
    ),
    ("owner", "Cơ quan chủ quản", "Owner"),
    ("free_until", "Miễn cước đến", "Free until"),
    (
        "verifications",
        "Đối soát dữ liệu cước",
        "Call-record verifications",
    ),
    ("file", "Tệp", "File"),
    ("calls_checked", "Cuộc gọi đã kiểm", "Calls checked"),
    ("broken_rows", "Dòng hỏng", "Broken rows"),
    ("wrongly_charged", "Tiền cước tính sai", "Wrongly charged"),
    ("no_data", "Chưa có dữ liệu.", "No data yet."),
    ("generated", "Ngày lập", "Generated"),
    ("print", "In", "Print"),
    ("members", "thành viên", "members"),
    ("group", "Nhóm", "Group"),
    ("lead", "Chủ trì", "Lead"),
    ("coordinating", "Phối hợp", "Coordinating"),
    // A task's history (`pages::task_history`).
    ("h_history", "Lịch sử thay đổi", "History"),
    ("h_received", "Máy chủ nhận (UTC+7)", "Received (UTC+7)"),
    ("h_phone_at", "Giờ trên điện thoại", "Phone's time"),
    ("h_who", "Người sửa", "By"),
    ("h_device", "Thiết bị", "Device"),
    ("h_what", "Thay đổi", "Change"),
    ("h_oldest", "Cũ nhất trước", "Oldest first"),
    ("h_newest", "Mới nhất trước", "Newest first"),
    ("h_next", "Trang sau →", "Next page →"),
    ("h_none", "Chưa có thay đổi nào.", "No changes yet."),
    ("h_notes", "Ghi chú", "Notes"),
    ("h_title", "Tên nhiệm vụ", "Title"),
    ("h_hidden", "Ẩn nhiệm vụ", "Task hidden"),
    ("h_shown", "Hiện lại nhiệm vụ", "Task shown again"),
    ("h_comment", "Bình luận", "Comment"),
    ("h_evidence", "Minh chứng", "Evidence"),
    ("h_task_added", "Tạo nhiệm vụ", "Task added"),
    ("h_subtask_added", "Thêm nhiệm vụ con", "Sub-task added"),
    ("h_cleared", "bỏ hạn", "cleared"),
    ("h_unknown", "không rõ", "unknown"),
    // The Ministry Office's operations in a task's history (decision 39).
    ("h_deadline", "Văn phòng Bộ đặt hạn", "Deadline set to"),
    (
        "h_role",
        "Sửa đổi chỉ thị: vai trò",
        "Directive revised: role",
    ),
    (
        "h_withdrawn",
        "Sửa đổi chỉ thị: rút nhiệm vụ (kết quả đã ghi được giữ)",
        "Directive revised: task withdrawn (the work recorded is kept)",
    ),
    (
        "h_assigned",
        "Sửa đổi chỉ thị: giao nhiệm vụ theo điều khoản",
        "Directive revised: task given for clause",
    ),
    ("h_accepted", "Nghiệm thu", "Accepted"),
    ("h_returned", "Trả lại", "Returned"),
    ("h_urged", "Đôn đốc", "Urged"),
    ("h_new_due", "hạn mới", "new deadline"),
    // The Ministry Office's review on the matrix, the unit page and the report.
    ("review", "Nghiệm thu", "Review"),
    ("urges", "Số lần đôn đốc", "Urges"),
    // The Ministry Office's forms.
    ("act", "Thao tác", "Act"),
];

/// A review state's label in the page's language.
pub fn review_label(lang: Lang, r: ReviewState) -> &'static str {
    if lang == Lang::Vi {
        r.label_vi()
    } else {
        r.label_en()
    }
}

pub fn t(lang: Lang, key: &str) -> &'static str {
    WORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or("?", |(_, vi, en)| if lang == Lang::Vi { vi } else { en })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_translated() {
        let mut keys: Vec<&str> = WORDS.iter().map(|w| w.0).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key appears twice");
        assert!(
            WORDS
                .iter()
                .all(|(_, vi, en)| !vi.is_empty() && !en.is_empty())
        );
        assert_eq!(t(Lang::En, "done"), "Done");
        assert_eq!(t(Lang::Vi, "done"), "Hoàn thành");
    }
}
