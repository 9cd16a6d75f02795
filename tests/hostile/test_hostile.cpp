// SPDX-License-Identifier: GPL-3.0-or-later
// Hostile input and faults, as a user (or an attacker) gives them to the CLI: each case builds its input
// here, runs `peftwb` as a child under resource limits (address space, CPU time, a wall-clock deadline)
// and asserts a located message (the file and the reason), a bounded time, and input files left
// byte-for-byte unchanged. Then the complexity checks: each tokenizer and reader at n and 8n, failing on
// growth far above linear (a ratio, never an absolute time).
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "../hf_fixture.h"
#include "data/hf_tokenizer.h"
#include "data/table.h"
#include "util/error.h"
#include "util/json_read.h"

using namespace peft;
using namespace hf_fixture;

namespace {

struct Child {
    int code = -1;
    bool timedOut = false;
    double seconds = 0;
    std::string out, err;
};

/// Runs peftwb with `args` under a 6 GiB address space, 60 s of CPU and `deadline` seconds of wall time.
/// `fileLimit` > 0 also caps the size of any file the child writes (a full disk, as the child sees it).
Child runPeftwb(const QStringList& args, int deadline = 60, rlim_t fileLimit = 0, bool asNobody = false) {
    QProcess p;
    p.setChildProcessModifier([fileLimit] {
        rlimit as{rlim_t(6) << 30, rlim_t(6) << 30};
        setrlimit(RLIMIT_AS, &as);
        rlimit cpu{60, 60};
        setrlimit(RLIMIT_CPU, &cpu);
        if (fileLimit > 0) {
            signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG, as on a full disk
            rlimit fs{fileLimit, fileLimit};
            setrlimit(RLIMIT_FSIZE, &fs);
        }
    });
    QStringList full = args;
    QString program = PEFTWB_PATH;
    if (asNobody) {
        full = QStringList{"--reuid=65534", "--regid=65534", "--clear-groups", PEFTWB_PATH} + args;
        program = "setpriv";
    }
    const auto t0 = std::chrono::steady_clock::now();
    p.start(program, full);
    Child c;
    if (!p.waitForFinished(deadline * 1000)) {
        c.timedOut = true;
        p.kill();
        p.waitForFinished(5000);
    }
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    c.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : 128 + 9;
    c.out = p.readAllStandardOutput().toStdString();
    c.err = p.readAllStandardError().toStdString();
    return c;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Every regular file under `dir`, with its bytes: to prove the input was left as it was.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out[e.path().string()] = slurp(e.path());
    return out;
}

void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

std::string deepJson(int levels) {
    return std::string(size_t(levels), '[') + std::string(size_t(levels), ']');
}

/// A tiny GPT-2 folder of the fixture: config, weights, byte-level BPE tokenizer.
fs::path gpt2Folder(const fs::path& root, const std::string& name = "gpt2") {
    const fs::path dir = root / name;
    fs::create_directories(dir);
    writeJson(dir / "config.json", gpt2Config(true));
    hf_fixture::writeSafetensors(dir / "model.safetensors", gpt2Weights("transformer.", 24), "F32");
    writeBpeTokenizer(dir, false);
    return dir;
}

/// A PEFT LoRA adapter's tensors (r 2 on c_attn of every layer of the fixture's GPT-2), as PEFT names them.
void writeLoraWeights(const fs::path& adapter) {
    Weights w;
    for (int l = 0; l < kL; ++l) {
        const std::string p = "base_model.model.transformer.h." + std::to_string(l) + ".attn.c_attn.";
        w[p + "lora_A.weight"] = rnd({2, kD});
        w[p + "lora_B.weight"] = rnd({3 * kD, 2});
    }
    hf_fixture::writeSafetensors(adapter / "adapter_model.safetensors", w, "F32");
}

/// `piece` repeated until the text is at least `n` bytes long.
std::string repeated(const std::string& piece, size_t n) {
    std::string t;
    while (t.size() < n)
        t += piece;
    return t;
}

#define EXPECT_REFUSED(child, ...)                                                                   \
    do {                                                                                             \
        const Child& c_ = (child);                                                                   \
        QVERIFY2(!c_.timedOut, "the child hung past its deadline");                                  \
        QVERIFY2(c_.code == 1, ("exit " + std::to_string(c_.code) + "; stderr: " + c_.err).c_str()); \
        for (const char* part : {__VA_ARGS__})                                                       \
            QVERIFY2(c_.err.find(part) != std::string::npos,                                         \
                     ("expected '" + std::string(part) + "' in: " + c_.err.substr(0, 600)).c_str()); \
    } while (0)

/// Seconds for f(n), the best of three.
double timeOf(const std::function<void(size_t)>& f, size_t n) {
    double best = 1e9;
    for (int k = 0; k < 3; ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        f(n);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

/// f at n and 8n: linear growth gives a ratio near 8, quadratic near 64. The bound (24) leaves room for a
/// loaded 2-core machine and n log n, and none for a quadratic.
void expectLinear(const char* what, const std::function<void(size_t)>& f, size_t n) {
    f(n);  // warm up caches and allocators
    const double small = timeOf(f, n), large = timeOf(f, 8 * n);
    const double ratio = large / std::max(small, 1e-6);
    qInfo("%s: n %zu → %.4f s, 8n → %.4f s, ratio %.1f", what, n, small, large, ratio);
    QVERIFY2(ratio < 24.0,
             (std::string(what) + ": time grows superlinearly, ratio " + std::to_string(ratio)).c_str());
}

}  // namespace

class TestHostile : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    fs::path root() const { return tmp_.path().toStdString(); }

private Q_SLOTS:
    // ----- 1. deeply nested JSON ----------------------------------------------------------------------
    void deepJsonEverywhere() {
        const fs::path dir = gpt2Folder(root(), "deep-tokenizer");
        write(dir / "tokenizer.json", deepJson(200000));
        auto before = snapshot(dir);
        EXPECT_REFUSED(
            runPeftwb({"tokenize", "--model", QString::fromStdString(dir.string()), "--text", "the"}),
            "tokenizer.json", "nested deeper than 128");
        QCOMPARE(snapshot(dir), before);

        const fs::path adapter = root() / "deep-adapter";
        fs::create_directories(adapter);
        write(adapter / "adapter_config.json",
              R"({"peft_type": "LORA", "r": 2, "loftq_config": )" + deepJson(200000) + "}");
        const fs::path model = gpt2Folder(root(), "gpt2-a");
        EXPECT_REFUSED(runPeftwb({"forward", "--model", QString::fromStdString(model.string()), "--adapter",
                                  QString::fromStdString(adapter.string()), "--text", "the"}),
                       "adapter_config.json", "nested deeper");

        const fs::path rows = root() / "deep.jsonl";
        write(rows, "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": " + deepJson(200000) +
                        ", \"label\": \"y\"}\n");
        EXPECT_REFUSED(runPeftwb({"data", "--data", QString::fromStdString(rows.string())}), "deep.jsonl:2",
                       "nested deeper");

        // In the parser itself: line of the offence, and no stack used in proportion to the depth.
        const std::string msg = [&] {
            try {
                parseJson("{\"a\":\n" + deepJson(1000000) + "}", "x.json");
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string();
        }();
        QVERIFY2(msg.find("x.json:2") != std::string::npos, msg.c_str());
    }

    void duplicateKeysAreRefused() {
        try {
            parseJson(R"({"a": 1, "b": {"c": 1, "c": 2}})", "dup.json");
            QFAIL("accepted a duplicate key");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("'c' appears twice") != std::string::npos, e.what());
        }
    }

    // ----- 2. superlinear cost on one input -----------------------------------------------------------
    void oneLongWordDoesNotHang() {
        const fs::path dir = gpt2Folder(root(), "gpt2-long");
        const fs::path data = root() / "long.tsv";
        std::string row =
            "sentence\tlabel\n" + std::string(4 << 20, 'q') + "\tpos\nthe movie\tneg\nthe\tpos\n";
        write(data, row);
        const Child c = runPeftwb({"train", "--model", QString::fromStdString(dir.string()), "--data",
                                   QString::fromStdString(data.string()), "--preset", "lora", "--steps", "1",
                                   "--batch-size", "2", "--quiet"},
                                  120);
        QVERIFY2(!c.timedOut, "a 4 MB word hung the tokenizer");
        QVERIFY2(c.code == 0, c.err.c_str());
    }

    void manyLabelsAreRefused() {
        const fs::path data = root() / "labels.tsv";
        std::string text = "sentence\tlabel\n";
        for (int i = 0; i < 200000; ++i)
            text += "x\tlabel" + std::to_string(i) + "\n";
        write(data, text);
        EXPECT_REFUSED(runPeftwb({"data", "--data", QString::fromStdString(data.string())}, 60),
                       "labels.tsv:", "more than 10000 distinct labels");
    }

    void backtrackingPatternKeyDoesNotHang() {
        const fs::path model = gpt2Folder(root(), "gpt2-re");
        const fs::path adapter = root() / "re-adapter";
        fs::create_directories(adapter);
        // A LoRA adapter on W_q/W_k/W_v of both layers, with a pattern that backtracks exponentially.
        json cfg = {{"peft_type", "LORA"},
                    {"r", 2},
                    {"lora_alpha", 4},
                    {"target_modules", {"c_attn"}},
                    {"rank_pattern", {{"(a|a|aa)*(a|a|aa)*(a|a|aa)*$x", 2}}}};
        writeJson(adapter / "adapter_config.json", cfg);
        writeLoraWeights(adapter);
        const Child c = runPeftwb({"forward", "--model", QString::fromStdString(model.string()), "--adapter",
                                   QString::fromStdString(adapter.string()), "--text", "the"},
                                  30);
        QVERIFY2(!c.timedOut, "a backtracking rank_pattern key hung the importer");
        QVERIFY2(c.code == 0, c.err.c_str());
    }

    // ----- 3. sizes checked before allocating ---------------------------------------------------------
    void sizesAreCheckedBeforeAllocating() {
        struct Case {
            const char* key;
            json value;
            const char* expect;
        };
        for (const Case& k :
             {Case{"n_layer", 1000000000, "n_layer"}, Case{"n_layer", 3, "n_layer"},
              Case{"n_embd", 10000000, "n_embd"}, Case{"vocab_size", 1000000000000LL, "vocab_size"},
              Case{"n_layer", 9223372036854775808ULL, "n_layer"}}) {
            const fs::path dir = gpt2Folder(root(), std::string("size-") + k.key + "-" + k.value.dump());
            json cfg = gpt2Config(true);
            cfg[k.key] = k.value;
            writeJson(dir / "config.json", cfg);
            const auto before = snapshot(dir);
            const Child c = runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--preset",
                                       "lora", "--text", "the"},
                                      30);
            EXPECT_REFUSED(c, "config.json", k.expect);
            QVERIFY2(c.seconds < 20, std::to_string(c.seconds).c_str());
            QCOMPARE(snapshot(dir), before);
        }
        {  // a batch larger than the data: each batch holds the whole training set, said so, bounded
            const Child c =
                runPeftwb({"train", "--model", "tiny-random", "--task", "sentiment", "--preset", "lora",
                           "--steps", "1", "--train-size", "64", "--batch-size", "100000"});
            QVERIFY2(c.code == 0 && c.err.find("each batch holds all 64") != std::string::npos,
                     c.err.c_str());
        }
        EXPECT_REFUSED(
            runPeftwb({"train", "--model", "tiny-random", "--task", "sentiment", "--preset", "lora",
                       "--steps", "1", "--train-size", "64", "--batch-size", "8", "--threads", "100000"}),
            "threads", "100000");
    }

    // ----- 4. safetensors validation --------------------------------------------------------------------
    void safetensorsHoles() {
        const fs::path dir = gpt2Folder(root(), "st");
        auto withHeader = [&](const std::string& header, size_t dataBytes) {
            std::string h = header;
            std::string bytes(8, '\0');
            for (int i = 0; i < 8; ++i)
                bytes[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
            write(dir / "model.safetensors", bytes + h + std::string(dataBytes, '\0'));
        };
        withHeader(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                   R"("z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                   16);
        EXPECT_REFUSED(runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--preset",
                                  "lora", "--text", "the"}),
                       "model.safetensors", "overlap");
        withHeader(R"({"a":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", 0);
        EXPECT_REFUSED(runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--preset",
                                  "lora", "--text", "the"}),
                       "model.safetensors", "overflows");
        withHeader(
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            8);
        EXPECT_REFUSED(runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--preset",
                                  "lora", "--text", "the"}),
                       "model.safetensors", "appears twice");
    }

    // ----- 5. special files ---------------------------------------------------------------------------
    void specialFilesAreNamedNotOpened() {
        for (const char* file : {"model.safetensors", "config.json"}) {
            const fs::path dir = gpt2Folder(root(), std::string("fifo-") + file);
            fs::remove(dir / file);
            QCOMPARE(mkfifo((dir / file).c_str(), 0644), 0);
            const Child c = runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--preset",
                                       "lora", "--text", "the"},
                                      20);
            EXPECT_REFUSED(c, file, "FIFO");
        }
        const fs::path fifo = root() / "project.peftproj";
        QCOMPARE(mkfifo(fifo.c_str(), 0644), 0);
        EXPECT_REFUSED(runPeftwb({"project", "runs", QString::fromStdString(fifo.string())}, 20),
                       "project.peftproj", "FIFO");
        EXPECT_REFUSED(runPeftwb({"project", "runs", QString::fromStdString(root().string())}, 20),
                       "is a folder");
        EXPECT_REFUSED(runPeftwb({"project", "runs", "/dev/null"}, 20), "/dev/null", "character device");
        const fs::path data = root() / "data.tsv";
        QCOMPARE(mkfifo(data.c_str(), 0644), 0);
        EXPECT_REFUSED(runPeftwb({"data", "--data", QString::fromStdString(data.string())}, 20), "data.tsv",
                       "FIFO");
    }

    // ----- 6, 7. projects: read-only, faults, status --------------------------------------------------
    void projectFaults() {
        const fs::path dir = root() / "proj";
        fs::create_directories(dir);
        const fs::path project = dir / "p.peftproj";
        const QString P = QString::fromStdString(project.string());
        const Child trained = runPeftwb(
            {"train", "--model", "tiny-random", "--task", "sentiment", "--preset", "lora", "--steps", "20",
             "--eval-every", "10", "--train-size", "64", "--batch-size", "8", "--project", P, "--quiet"},
            240);
        QVERIFY2(trained.code == 0, trained.err.c_str());

        auto sql = [&](const std::string& q) {
            sqlite3* db = nullptr;
            QCOMPARE(sqlite3_open(project.c_str(), &db), SQLITE_OK);
            char* msg = nullptr;
            const int rc = sqlite3_exec(db, q.c_str(), nullptr, nullptr, &msg);
            QVERIFY2(rc == SQLITE_OK, msg ? msg : "?");
            sqlite3_close(db);
        };
        auto scalar = [&](const std::string& q) {
            sqlite3* db = nullptr;
            sqlite3_open(project.c_str(), &db);
            sqlite3_stmt* s = nullptr;
            sqlite3_prepare_v2(db, q.c_str(), -1, &s, nullptr);
            std::string v = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)
                                ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0))
                                : "";
            sqlite3_finalize(s);
            sqlite3_close(db);
            return v;
        };

        // A run whose process died after its checkpoint of step 10 reads as interrupted in a read-only
        // listing too, and says it can resume from that checkpoint.
        sql("UPDATE runs SET status = 'running', steps_done = 15, owner = 'nohost:1', heartbeat = 0");
        Child c = runPeftwb({"project", "runs", P});
        QVERIFY2(c.code == 0 && c.out.find("interrupted") != std::string::npos, (c.out + c.err).c_str());

        // A damaged optimizer state: the resume fails naming the checkpoint and changes nothing. (The run
        // is made a 40-step one, so that its checkpoint of step 20 lies before its end.)
        sql("UPDATE runs SET status = 'interrupted', steps_done = 25, steps_total = 40");
        {
            json tc = json::parse(scalar("SELECT train_config FROM runs WHERE id = 1"));
            tc["steps"] = 40;
            std::string q = "UPDATE runs SET train_config = '" + tc.dump() + "' WHERE id = 1";
            sql(q);
        }
        {  // zero the end of the optimizer's archive (its zip directory)
            sqlite3* db = nullptr;
            QCOMPARE(sqlite3_open(project.c_str(), &db), SQLITE_OK);
            sqlite3_stmt* s = nullptr;
            sqlite3_prepare_v2(db, "SELECT resume FROM checkpoints WHERE kind = 'eval'", -1, &s, nullptr);
            QCOMPARE(sqlite3_step(s), SQLITE_ROW);
            std::string blob(static_cast<const char*>(sqlite3_column_blob(s, 0)),
                             size_t(sqlite3_column_bytes(s, 0)));
            sqlite3_finalize(s);
            QVERIFY(blob.size() > 3000);
            uint64_t n = 0;
            for (int i = 7; i >= 0; --i)
                n = (n << 8) | static_cast<unsigned char>(blob[size_t(i)]);
            const json header = json::parse(blob.substr(8, n));
            const size_t end = 8 + n + header["optimizer_bytes"].get<size_t>();
            std::fill(blob.begin() + long(end) - 100, blob.begin() + long(end), '\0');
            sqlite3_prepare_v2(db, "UPDATE checkpoints SET resume = ? WHERE kind = 'eval'", -1, &s, nullptr);
            sqlite3_bind_blob(s, 1, blob.data(), int(blob.size()), SQLITE_TRANSIENT);
            QCOMPARE(sqlite3_step(s), SQLITE_DONE);
            sqlite3_finalize(s);
            sqlite3_close(db);
        }
        const std::string metricsBefore = scalar("SELECT count(*) || ':' || max(step) FROM metrics");
        c = runPeftwb({"project", "resume", P, "--run", "1", "--quiet"}, 120);
        EXPECT_REFUSED(c, "checkpoint", "damaged");
        QCOMPARE(scalar("SELECT status || ':' || steps_done FROM runs WHERE id = 1"),
                 std::string("interrupted:25"));
        QCOMPARE(scalar("SELECT count(*) || ':' || max(step) FROM metrics"), metricsBefore);

        // Killed before its first checkpoint: the message says it cannot resume.
        sql("DELETE FROM checkpoints; UPDATE runs SET status = 'running', owner = 'nohost:1', heartbeat = 0");
        c = runPeftwb({"project", "runs", P, "--json"});
        QVERIFY2(c.out.find("cannot resume") != std::string::npos, (c.out + c.err).c_str());

        // Read-only folder (as an unprivileged user when this runs as root): opens, lists, leaves nothing.
        sql("UPDATE runs SET status = 'finished'");
        for (const char* side : {"-wal", "-shm"})
            fs::remove(project.string() + side);
        const auto before = snapshot(dir);
        fs::permissions(project, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
        fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                 fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
        fs::permissions(root(), fs::perms::others_exec | fs::perms::others_read, fs::perm_options::add);
        // Root ignores permissions: the check runs as nobody where nobody can run this build's peftwb (a
        // checkout under a private home cannot); else as root, which still proves nothing is created.
        const bool asNobody = geteuid() == 0 && runPeftwb({"--version"}, 30, 0, true).code == 0;
        if (!asNobody) qInfo("read-only project: checked as this user (nobody cannot run %s)", PEFTWB_PATH);
        c = runPeftwb({"project", "runs", P}, 30, 0, asNobody);
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add);
        QVERIFY2(c.code == 0 && c.out.find("finished") != std::string::npos, (c.out + c.err).c_str());
        QCOMPARE(snapshot(dir), before);

        // A full disk while training: the run ends failed with the reason, the project stays readable.
        fs::permissions(project, fs::perms::owner_write, fs::perm_options::add);
        const fs::path full = root() / "full.peftproj";
        const Child f =
            runPeftwb({"train", "--model", "tiny-random", "--task", "sentiment", "--preset", "full",
                       "--steps", "40", "--eval-every", "5", "--train-size", "64", "--batch-size", "8",
                       "--project", QString::fromStdString(full.string()), "--quiet"},
                      240, 600 << 10);
        QVERIFY2(f.code != 0, "training into a full disk did not fail");
        const Child after = runPeftwb({"project", "runs", QString::fromStdString(full.string())});
        QVERIFY2(after.code == 0, after.err.c_str());
        QVERIFY2(after.out.find("failed") != std::string::npos ||
                     after.out.find("interrupted") != std::string::npos,
                 after.out.c_str());
        QVERIFY2(after.out.find("running") == std::string::npos, after.out.c_str());
    }

    // ----- 8. messages that name the file and the field -----------------------------------------------
    void messagesNameFileAndField() {
        const fs::path dir = gpt2Folder(root(), "msg");
        writeJson(dir / "tokenizer_config.json", {{"add_prefix_space", "yes"}});
        EXPECT_REFUSED(
            runPeftwb({"tokenize", "--model", QString::fromStdString(dir.string()), "--text", "the"}),
            "tokenizer_config.json", "add_prefix_space");
        fs::remove(dir / "tokenizer_config.json");

        json cfg = gpt2Config(true);
        cfg.erase("model_type");
        writeJson(dir / "config.json", cfg);
        EXPECT_REFUSED(runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--preset",
                                  "lora", "--text", "the"}),
                       "config.json", "model_type");
        writeJson(dir / "config.json", gpt2Config(true));

        const fs::path adapter = root() / "alpha-adapter";
        fs::create_directories(adapter);
        for (const std::string alpha : {"\"eight\"", "-1e999"}) {
            write(adapter / "adapter_config.json",
                  R"({"peft_type": "LORA", "r": 2, "target_modules": ["c_attn"], "lora_alpha": )" + alpha +
                      "}");
            writeLoraWeights(adapter);
            EXPECT_REFUSED(runPeftwb({"forward", "--model", QString::fromStdString(dir.string()), "--adapter",
                                      QString::fromStdString(adapter.string()), "--text", "the"}),
                           "adapter_config.json", alpha[0] == '"' ? "lora_alpha" : "1e999");
        }
        const Child help = runPeftwb({"tokenize", "--help"});
        QVERIFY2(help.code == 0 && help.out.rfind("usage: peftwb tokenize", 0) == 0, help.out.c_str());
    }

    // ----- complexity: n vs 8n ------------------------------------------------------------------------
    void tokenizersAreLinear() {
        const auto gpt2 = ByteLevelBpeTokenizer::fromFiles(PEFT_TEST_DATA "/tokenizers/gpt2/vocab.json",
                                                           PEFT_TEST_DATA "/tokenizers/gpt2/merges.txt");
        const auto bert =
            WordPieceTokenizer::fromVocabFile(PEFT_TEST_DATA "/tokenizers/bert-base-uncased/vocab.txt");
        expectLinear(
            "byte-level BPE, one long word", [&](size_t n) { gpt2->encodeIds(std::string(n, 'x') + "ing"); },
            20000);
        expectLinear(
            "byte-level BPE, [SEP]-like specials",
            [&](size_t n) { gpt2->encodeIds(repeated("<|endoftext|>ab ", n)); }, 20000);
        WordPieceOptions longWords;
        longWords.max_input_chars_per_word = 1 << 30;
        const auto bertLong = WordPieceTokenizer::fromVocabFile(
            PEFT_TEST_DATA "/tokenizers/bert-base-uncased/vocab.txt", longWords);
        expectLinear(
            "WordPiece, one long word", [&](size_t n) { bertLong->encodeIds(std::string(n, 'x')); }, 20000);
        expectLinear(  // n large enough that both runs leave the caches (at 20,000 the small one took 1 ms)
            "WordPiece, [SEP] in a long text", [&](size_t n) { bert->encodeIds(repeated("[SEP] the ", n)); },
            200000);
    }

    void readersAreLinear() {
        const fs::path labels = root() / "cx-labels.tsv";
        expectLinear(
            "distinct labels",
            [&](size_t n) {
                std::string text = "sentence\tlabel\n";
                for (size_t i = 0; i < n; ++i)
                    text += "x\t" + std::to_string(i % 9000) + "-" + std::to_string(i) + "\n";
                std::vector<LabeledRow> rows;
                for (size_t i = 0; i < n; ++i)
                    rows.push_back({"x", "", std::to_string(i % 9000), int64_t(i)});
                ClassificationTable t;
                t.rows = rows;
                labelIndices(t, inferLabels(rows));
            },
            20000);
        expectLinear(
            "CSV, one quoted field over many lines",
            [&](size_t n) {
                const fs::path p = root() / "cx.csv";
                std::string text = "sentence,label\n\"";
                for (size_t i = 0; i < n; ++i)
                    text += "a\n";
                text += "\",pos\n";
                write(p, text);
                importClassification(p.string());
            },
            20000);
        expectLinear(
            "JSON, deep but allowed, and long",
            [&](size_t n) {
                std::string text = "[";
                for (size_t i = 0; i < n; ++i)
                    text += std::string(i ? "," : "") + "{\"k" + std::to_string(i) + "\": [[[1]]]}";
                text += "]";
                parseJson(text, "cx.json");
            },
            5000);
    }
};

QTEST_GUILESS_MAIN(TestHostile)
#include "test_hostile.moc"
