// The phone library from Kotlin, through the generated uniffi bindings (JNA), against a
// running `taskforce serve` (started by ops/foreign-tests.sh, which sets the environment).
//
// Two devices of one unit sign in, go offline, each edits the same task and others, one
// records a hotline-free confirmation, the other a status report, both sync; both then hold
// the same state, the conflict is listed on both, and the server's progress has moved.
//
// Then the Ministry Office acts over the HTTP API while the phone is offline (it does not
// sync): it returns a task reported done and urges the unit on it with a new deadline; the
// phone syncs, shows both, reports the task done again; the office accepts it; the phone shows
// it accepted and locked, and refuses an edit to it.
//
// Last, a second directive is published (by TASKFORCE_PUBLISH) while the phone is offline with
// an edit of 05/CT-BTTTT queued: the phone syncs, lists it, selects it, edits one of its tasks,
// syncs; the other phone sees the edit, and the 05/CT-BTTTT work is intact.

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import kotlin.system.exitProcess
import uniffi.taskforce_bindings.*

var passed = 0

fun check(condition: Boolean, what: String) {
    if (!condition) {
        System.err.println("FAILED: $what")
        println("Kotlin scenario: $passed passed, 1 failed")
        exitProcess(1)
    }
    passed += 1
}

class Counter : ChangeListener {
    val events = java.util.Collections.synchronizedList(mutableListOf<String>())
    override fun onChange(what: String) {
        events.add(what)
    }
}

fun env(name: String): String = System.getenv(name) ?: error("$name is not set")

val http: HttpClient = HttpClient.newHttpClient()

fun request(method: String, url: String, token: String?, body: String?): String = send(method, url, token, body).body()

fun send(method: String, url: String, token: String?, body: String?): HttpResponse<String> {
    val builder = HttpRequest.newBuilder(URI.create(url))
    if (token != null) builder.header("Authorization", "Bearer $token")
    if (body != null) {
        builder.header("Content-Type", "application/json")
        builder.method(method, HttpRequest.BodyPublishers.ofString(body))
    } else {
        builder.method(method, HttpRequest.BodyPublishers.noBody())
    }
    return http.send(builder.build(), HttpResponse.BodyHandlers.ofString())
}

/** A JSON string literal (quotes, backslashes and control characters escaped). */
fun jsonString(s: String): String {
    val out = StringBuilder("\"")
    for (c in s) {
        when {
            c == '"' -> out.append("\\\"")
            c == '\\' -> out.append("\\\\")
            c < ' ' -> out.append(String.format("\\u%04x", c.code))
            else -> out.append(c)
        }
    }
    return out.append('"').toString()
}

/** The Ministry Office acts on one task over the HTTP API; the answer must apply it. */
fun officeAct(server: String, token: String, unit: String, task: String, action: String, fields: Map<String, String>) {
    val body = (mapOf("directive" to "5-ct-btttt", "action" to action, "unit" to unit, "task" to task) + fields)
        .entries.joinToString(",", "{", "}") { (k, v) -> "${jsonString(k)}:${jsonString(v)}" }
    val answer = send("POST", "$server/api/v1/office/actions", token, body)
    check(answer.statusCode() == 200, "the office's $action is answered 200 (${answer.statusCode()}: ${answer.body()})")
    val applied = Regex("\"applied\":\\[([^\\]]*)\\]").find(answer.body())?.groupValues?.get(1) ?: ""
    check(
        applied.count { it == '{' } == 1 && applied.contains("\"unit\":\"$unit\"") &&
            applied.contains("\"task\":\"$task\"") && answer.body().contains("\"skipped\":[]"),
        "the office's $action applies to $unit/$task alone: ${answer.body()}",
    )
}

/** The JSON fields of the progress row of `clause` (a flat slice of the object). */
fun progressRow(json: String, clause: String): String {
    val at = json.indexOf("\"clause\":\"$clause\"")
    check(at >= 0, "the server's progress lists clause $clause")
    return json.substring(at, json.indexOf('}', at))
}

fun main() {
    val server = env("TASKFORCE_SERVER")
    val unit = env("TASKFORCE_UNIT")
    val prefix = env("TASKFORCE_USER_PREFIX")
    val password = env("TASKFORCE_PASSWORD")
    val observer = env("TASKFORCE_OBSERVER")
    val dir = Files.createTempDirectory("taskforce-kotlin")

    val a = TaskforceClient.open(dir.resolve("a.db").toString())
    val b = TaskforceClient.open(dir.resolve("b.db").toString())
    a.login(server, "$prefix.a", password, "Kotlin phone A", null)
    b.login(server, "$prefix.b", password, "Kotlin phone B", null)
    val seen = Counter()
    a.addListener(seen)
    check(a.unit() == unit, "signed in to $unit")

    val tasks = a.tasks()
    check(tasks.size >= 2, "the unit has tasks")
    val same = tasks[0]
    val other = tasks[1]
    check(!same.clauseText.isNullOrEmpty(), "a task carries its clause's text")
    val now = System.currentTimeMillis() / 1000

    // Offline on both phones.
    a.setStatus(same.id, "done")
    a.setProgress(other.id, 50u)
    val confirmation = a.recordConfirmation("mobifone", "19003228", "2020-02-03", "Trần Thị B", now)
    b.setStatus(same.id, "blocked")
    b.setNotes(other.id, "Chờ số liệu")
    b.submitReport("2020-W06", "Đã đăng 340 tin bài", listOf(Figure("articles_published", 340L)), now)
    check(a.unsynced() == 3UL && b.unsynced() == 3UL, "three edits queued on each phone")
    check(seen.events.contains("edit"), "the listener hears about edits")

    a.sync()
    b.sync()
    val report = a.sync()
    check(report.pulled == 3UL, "A pulls B's three edits (pulled ${report.pulled})")
    check(a.unsynced() == 0UL && b.unsynced() == 0UL, "nothing left to send")
    check(a.stateFingerprint() == b.stateFingerprint(), "both phones hold the same state")
    for (phone in listOf(a, b)) {
        val conflicts = phone.conflicts()
        check(conflicts.size == 1 && conflicts[0].task == same.id && conflicts[0].field == "status", "the conflict is listed")
        check(conflicts[0].values.sorted() == listOf("blocked", "done"), "both values are kept")
        check(phone.confirmations().map { it.id } == listOf(confirmation), "the confirmation arrived")
        check(phone.reports().map { it.figures[0].value } == listOf(340L), "the report arrived")
    }

    // The server's progress moved.
    val login = request("POST", "$server/api/v1/auth/login", null, "{\"username\":\"$observer\",\"password\":\"$password\"}")
    val token = Regex("\"token\":\"([^\"]+)\"").find(login)?.groupValues?.get(1) ?: ""
    val progress = request("GET", "$server/api/v1/units/$unit/progress?directive=5-ct-btttt", token, null)
    val row = progressRow(progress, same.clause ?: "")
    check(row.contains("\"status\":\"blocked\"") && row.contains("\"conflicted\":true"), "server progress: $row")
    check(progressRow(progress, other.clause ?: "").contains("\"progress\":50"), "server progress of the other task")

    // Bad input gets a typed error and changes nothing.
    try {
        a.setProgress(same.id, 101u)
        check(false, "a progress over 100 is refused")
    } catch (e: TaskforceException.InvalidInput) {
        check(e.message?.isNotEmpty() == true, "the error says why")
    }

    // Resolved on one phone, resolved everywhere.
    b.resolveConflict(same.id, "status", "in_progress")
    b.sync()
    a.sync()
    check(a.conflicts().isEmpty() && b.conflicts().isEmpty(), "the conflict is resolved on both")
    check(a.tasks().first { it.id == same.id }.status == "in_progress", "the resolution arrived")

    // The Ministry Office acts while the phone is offline.
    val task = tasks.getOrNull(2)
    check(task != null && task.clause != null, "the unit has a third directive task")
    val id = task!!.id
    fun held(phone: TaskforceClient) = phone.tasks().first { it.id == id }
    check(held(a).review == "open" && !held(a).locked, "the task is open")
    a.setStatus(id, "done")
    a.sync()
    check(held(a).review == "reported", "done is reported to the office")

    // Offline from here: the phone does not sync while the office acts.
    val today = java.time.LocalDate.now(java.time.ZoneOffset.UTC)
    val deadline = today.plusDays(14).toString()
    val reason = "Thiếu biên bản kiểm tra / the inspection record is missing"
    val message = "Đề nghị hoàn thành trước hạn mới / please finish by the new deadline"
    officeAct(server, token, unit, id, "return", mapOf("text" to reason))
    officeAct(server, token, unit, id, "urge", mapOf("text" to message, "due" to deadline))
    check(held(a).review == "reported" && a.unreadNotices() == 0u, "offline, the phone has not seen the office's acts")

    a.sync()
    val returned = held(a)
    check(returned.review == "returned", "the task shows as returned (${returned.review})")
    check(returned.reviewReason == reason, "the reason is shown (${returned.reviewReason})")
    check(returned.deadline == deadline && returned.urges == 1u && !returned.locked, "the new deadline and the urge")
    val notices = a.notices()
    val urges = notices.filter { it.kind == "urge" }
    check(urges.size == 1 && urges[0].task == id && urges[0].message == message && urges[0].due == deadline, "one urge notice with the deadline: $urges")
    check(notices.filter { it.kind == "returned" }.map { it.message } == listOf(reason), "the return notice: $notices")
    check(a.unreadNotices() == 2u && notices.all { it.unread }, "two unread notices (${a.unreadNotices()})")
    val due = a.dueBetween(today.toString(), today.plusDays(30).toString()).filter { it.task == id }
    check(
        due.map { it.kind to it.date } == listOf("due" to deadline, "overdue" to today.plusDays(15).toString()),
        "offline, the deadline falls due in the next month: $due",
    )
    a.markNoticesRead()
    check(a.unreadNotices() == 0u, "no unread notices once read")

    a.setStatus(id, "done")
    a.sync()
    check(held(a).review == "reported", "done again is reported again")
    officeAct(server, token, unit, id, "accept", mapOf("text" to "Đạt yêu cầu / meets the requirement"))

    for (phone in listOf(a, b)) {
        phone.sync()
        val accepted = held(phone)
        check(accepted.review == "accepted" && accepted.locked, "the task shows as accepted and locked (${accepted.review})")
        check(phone.notices().any { it.kind == "accepted" }, "the acceptance is a notice")
        try {
            phone.setStatus(id, "in_progress")
            check(false, "an edit to an accepted task is refused")
        } catch (e: TaskforceException.Locked) {
            check(e.message?.isNotEmpty() == true, "the Locked error says why")
        }
        check(phone.unsynced() == 0UL, "nothing refused is queued")
    }
    check(a.stateFingerprint() == b.stateFingerprint(), "both phones hold the same state")
    check(a.dueBetween(today.toString(), today.plusDays(30).toString()).none { it.task == id }, "accepted work is nothing to remind of")

    // A second directive published while the phone is offline.
    val first = "5-ct-btttt"
    val secondId = env("TASKFORCE_SECOND_ID")
    check(a.directives().map { it.id } == listOf(first), "one directive before: ${a.directives()}")
    check(a.activeDirective() == first, "05/CT-BTTTT is the active directive")
    a.setProgress(other.id, 65u)
    val publish = ProcessBuilder(env("TASKFORCE_PUBLISH"), env("TASKFORCE_SECOND_TEXT"), secondId).inheritIO().start()
    check(publish.waitFor() == 0, "the second directive is published")
    a.sync()
    check(a.unsynced() == 0UL, "the queued 05 edit went up with the same sync")
    val listed = a.directives()
    check(listed.map { it.id } == listOf(first, secondId), "the new directive is listed, oldest first: $listed")
    check(!listed[1].active && listed[1].tasks > 0u && listed[1].number.startsWith("09/"), "its number and tasks: ${listed[1]}")
    check(a.activeDirective() == first, "05/CT-BTTTT stays active until another is selected")
    a.selectDirective(secondId)
    val secondTasks = a.tasks()
    check(secondTasks.isNotEmpty() && secondTasks.all { it.directive == secondId }, "the second directive's tasks: $secondTasks")
    check(!secondTasks[0].clauseText.isNullOrEmpty(), "with their clause text")
    a.setStatus(secondTasks[0].id, "in_progress")
    a.sync()
    check(a.unsynced() == 0UL, "the edit of the second directive is synced")
    b.sync()
    check(b.directives().map { it.id } == listOf(first, secondId), "the other phone follows it too")
    b.selectDirective(secondId)
    check(b.tasks().first { it.id == secondTasks[0].id }.status == "in_progress", "the other phone sees the edit")
    a.selectDirective(first)
    check(a.tasks().first { it.id == other.id }.progress.toInt() == 65, "the 05/CT-BTTTT work is intact")
    check(held(a).review == "accepted" && held(a).locked, "the accepted 05 task is still accepted")

    a.destroy()
    b.destroy()
    println("Kotlin scenario: $passed passed, 0 failed")
}
