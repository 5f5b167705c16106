// The phone library from Kotlin, through the generated uniffi bindings (JNA), against a
// running `taskforce serve` (started by ops/foreign-tests.sh, which sets the environment).
//
// Two devices of one unit sign in, go offline, each edits the same task and others, one
// records a hotline-free confirmation, the other a status report, both sync; both then hold
// the same state, the conflict is listed on both, and the server's progress has moved.

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

fun request(method: String, url: String, token: String?, body: String?): String {
    val builder = HttpRequest.newBuilder(URI.create(url))
    if (token != null) builder.header("Authorization", "Bearer $token")
    if (body != null) {
        builder.header("Content-Type", "application/json")
        builder.method(method, HttpRequest.BodyPublishers.ofString(body))
    } else {
        builder.method(method, HttpRequest.BodyPublishers.noBody())
    }
    return http.send(builder.build(), HttpResponse.BodyHandlers.ofString()).body()
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

    a.destroy()
    b.destroy()
    println("Kotlin scenario: $passed passed, 0 failed")
}
