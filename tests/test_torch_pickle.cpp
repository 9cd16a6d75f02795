// SPDX-License-Identifier: GPL-3.0-or-later
// PyTorch checkpoints (torch.save's zip format): files written by PyTorch itself (tests/data/torch_pickle,
// made by make_fixtures.py with Debian's python3-torch 1.13.1; the expected values are recomputed here from
// the script's formulas), files written by this test's own writer (torch_save_fixture.h) with every field
// set wrong in turn, and every truncation and thousands of random corruptions of the real file: each either
// loads or is refused with a peft::Error naming the file — never another exception, a crash or a hang.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <random>

#include <torch/torch.h>

#include "io/torch_pickle.h"
#include "test_support.h"
#include "torch_save_fixture.h"
#include "util/error.h"

using namespace peft;
using namespace torch_save_fixture;
namespace fs = std::filesystem;
using T = torch::Tensor;

namespace {

const std::string kData = std::string(PEFT_TEST_DATA) + "/torch_pickle/";

std::string fileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// The message of parsing `bytes`; "" when they load. Any exception other than peft::Error fails the test.
std::string parseError(const std::string& bytes, std::map<std::string, T>* out = nullptr) {
    try {
        auto t = parseTorchCheckpoint(bytes.data(), bytes.size(), "ckpt.bin");
        if (out) *out = std::move(t);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

bool has(const std::string& msg, const std::string& part) {
    if (msg.find(part) != std::string::npos) return true;
    qWarning("message '%s' lacks '%s'", msg.c_str(), part.c_str());
    return false;
}

/// One float32 storage "0" of `n` elements 0, 1, 2, … and one entry viewing it.
std::string oneView(int64_t n, int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride,
                    int64_t claimed = -1, const ZipOptions& o = {}) {
    const T t = torch::arange(n, torch::kFloat);
    Storage s;
    s.numel = claimed < 0 ? n : claimed;
    s.bytes.assign(static_cast<const char*>(t.data_ptr()), size_t(n * 4));
    return checkpoint({Entry{"w", "0", offset, std::move(size), std::move(stride)}}, {{"0", s}}, o);
}

}  // namespace

class TestTorchPickle : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Every dtype, views sharing a storage (transposed, offset, the same tensor twice), a Parameter, a 0-d
    // and an empty tensor, the state dict's _metadata: as PyTorch 1.13 wrote them.
    void readsWhatPyTorchWrote() {
        const auto sd = readTorchCheckpoint(kData + "state_dict_1_13.bin");
        std::vector<std::string> names;
        for (const auto& kv : sd)
            names.push_back(kv.first);
        QCOMPARE(names,
                 (std::vector<std::string>{"bf16", "bool", "empty", "f16", "f32", "f64", "i32", "i64",
                                           "param", "rows_1_2", "scalar", "tied", "transposed", "u8"}));
        // The script's formulas, evaluated here element by element (not by the reader's arithmetic).
        std::vector<float> base;
        for (int i = 0; i < 12; ++i)
            base.push_back(float(i) / 8.0f - 0.5f);
        auto floats = [&](const char* name) {
            const T t = sd.at(name);
            if (t.scalar_type() != torch::kFloat) qWarning("%s is not float32", name);
            const T c = t.contiguous();
            return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        };
        auto longs = [&](const char* name) {
            const T t = sd.at(name);
            if (t.scalar_type() != torch::kLong) qWarning("%s is not int64", name);
            return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
        };
        QCOMPARE(sd.at("f32").sizes().vec(), (std::vector<int64_t>{3, 4}));
        QCOMPARE(floats("f32"), base);
        QCOMPARE(floats("tied"), base);
        std::vector<float> tr;
        for (int c = 0; c < 4; ++c)
            for (int r = 0; r < 3; ++r)
                tr.push_back(base[size_t(r * 4 + c)]);
        QCOMPARE(sd.at("transposed").sizes().vec(), (std::vector<int64_t>{4, 3}));
        QCOMPARE(floats("transposed"), tr);
        QCOMPARE(sd.at("rows_1_2").sizes().vec(), (std::vector<int64_t>{2, 4}));
        QCOMPARE(floats("rows_1_2"), std::vector<float>(base.begin() + 4, base.end()));
        QCOMPARE(sd.at("f16").sizes().vec(), (std::vector<int64_t>{2, 3}));
        QCOMPARE(floats("f16"), (std::vector<float>{-0.75f, -0.5f, -0.25f, 0.0f, 0.25f, 0.5f}));
        QCOMPARE(floats("bf16"), (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f}));
        QCOMPARE(floats("f64"), (std::vector<float>{0.0f, float(1.0 / 3), float(2.0 / 3), 1.0f}));
        QCOMPARE(longs("i64"), (std::vector<int64_t>{-2000, -1000, 0, 1000, 2000}));
        QCOMPARE(longs("i32"), (std::vector<int64_t>{-2, -1, 0, 1}));
        QCOMPARE(longs("u8"), (std::vector<int64_t>{0, 100, 200}));
        QCOMPARE(longs("bool"), (std::vector<int64_t>{1, 0, 1}));
        QCOMPARE(floats("param"), (std::vector<float>{0.25f, 0.25f}));
        QCOMPARE(sd.at("scalar").dim(), int64_t(0));
        QCOMPARE(floats("scalar"), std::vector<float>{2.5f});
        QCOMPARE(sd.at("empty").sizes().vec(), (std::vector<int64_t>{0, 3}));
        // As torch.load gives them: one tensor under two names stays one tensor (tied weights); a view of
        // another tensor's storage is a tensor of its own (never a view of the file's mapping).
        QVERIFY(sd.at("tied").data_ptr() == sd.at("f32").data_ptr());
        sd.at("f32").add_(1);
        QCOMPARE(floats("tied")[0], 0.5f);
        QCOMPARE(floats("transposed"), tr);
        QCOMPARE(floats("rows_1_2"), std::vector<float>(base.begin() + 4, base.end()));
        // readTensorFile chooses the reader by the extension.
        QCOMPARE(readTensorFile(kData + "state_dict_1_13.bin").size(), sd.size());
    }

    // PyTorch-written files that are not a plain tensor state dict: refused, naming what they hold.
    void refusesWhatIsNotAStateDict() {
        auto err = [&](const char* f) { return errorOf([&] { readTorchCheckpoint(kData + f); }); };
        QVERIFY(has(err("legacy_1_13.bin"), "legacy (pre-1.6, non-zip) checkpoint format"));
        const std::string evil = err("code_exec.bin");
        QVERIFY(has(evil, "code_exec.bin: data.pkl byte"));
        QVERIFY(has(evil, "refers to the Python name 'posix.system'"));
        QVERIFY(has(evil, "never runs what a checkpoint names"));
        QVERIFY(has(err("non_tensor_value.bin"), "non_tensor_value.bin: 'step': is an int, not a tensor"));
        QVERIFY(has(err("not_a_dict.bin"), "holds a list, not a state dict"));
        QVERIFY(has(err("torchscript.pt"), "a TorchScript module (torch.jit.save), not a state dict"));
        QVERIFY(has(err("make_fixtures.py"), "not a PyTorch checkpoint"));
        QVERIFY(has(err("missing.bin"), "missing.bin: no such file"));
        QVERIFY(has(errorOf([&] { readTorchCheckpoint(kData); }), "is a folder"));
    }

    // This test's writer (plain, ZIP64, F16/BF16/int64) against values it knows.
    void readsTheFormatAsSpecified() {
        const std::map<std::string, T> w{{"a", torch::randn({3, 5})},
                                         {"b.weight", torch::randn({7})},
                                         {"ids", torch::arange(4, torch::kLong) * 3}};
        std::map<std::string, T> got;
        QCOMPARE(parseError(checkpointOf(w), &got), std::string());
        QVERIFY(torch::equal(got.at("a"), w.at("a")));
        QVERIFY(torch::equal(got.at("b.weight"), w.at("b.weight")));
        QVERIFY(torch::equal(got.at("ids"), w.at("ids")));
        QCOMPARE(parseError(checkpointOf(w, torch::kHalf), &got), std::string());
        QVERIFY(torch::equal(got.at("a"), w.at("a").to(torch::kHalf).to(torch::kFloat)));
        QCOMPARE(parseError(checkpointOf(w, torch::kBFloat16), &got), std::string());
        QVERIFY(torch::equal(got.at("a"), w.at("a").to(torch::kBFloat16).to(torch::kFloat)));
        ZipOptions z64;
        z64.zip64 = true;
        QCOMPARE(parseError(oneView(6, 1, {2, 2}, {1, 2}, -1, z64), &got), std::string());
        QVERIFY(torch::equal(got.at("w"), torch::tensor({{1.f, 3.f}, {2.f, 4.f}})));
    }

    // Each field of a valid file set wrong in turn: refused with a message naming file and reason.
    void hostileFieldsAreRefused() {
        QVERIFY(has(parseError(oneView(4, 0, {10}, {1})),
                    "a tensor of size [10] reaches element 9 of storage "
                    "'0', which has 4"));
        QVERIFY(has(parseError(oneView(4, 3, {2}, {1})), "reaches element 4"));
        QVERIFY(
            has(parseError(oneView(4, 0, {5, 1}, {int64_t(1) << 62, 1})), "a view whose extent overflows"));
        QVERIFY(has(parseError(oneView(4, 0, {4}, {1}, 5)),
                    "storage '0' claims 5 elements but its record "
                    "archive/data/0 holds 16 bytes"));
        QVERIFY(has(parseError(oneView(4, 0, {4}, {1, 1})), "size and stride differ in length"));
        QVERIFY(has(parseError(oneView(4, 0, {-1}, {1})),
                    "the size holds something other than a "
                    "non-negative integer"));
        ZipOptions deflate;
        deflate.method = 8;
        QVERIFY(has(parseError(oneView(4, 0, {4}, {1}, -1, deflate)), "is compressed (method 8)"));
        {  // a missing record, a damaged one
            Storage s;
            s.numel = 1;
            s.bytes = std::string(4, '\0');
            std::string pkl = statePickle({Entry{"w", "7", 0, {1}, {1}}}, {{"7", s}});
            QVERIFY(has(parseError(zipArchive({{"archive/data.pkl", pkl}})),
                        "storage '7' has no record archive/data/7 in the archive"));
            std::string bytes = zipArchive({{"archive/data.pkl", pkl}, {"archive/data/7", s.bytes}});
            bytes[bytes.find(std::string(4, '\0') + "PK\x01\x02")] = 'x';  // the record's first byte
            QVERIFY(has(parseError(bytes), "ckpt.bin: archive/data/7: CRC-32 mismatch"));
            QVERIFY(has(
                parseError(zipArchive(
                    {{"archive/data.pkl", pkl}, {"archive/data/7", s.bytes}, {"archive/byteorder", "big"}})),
                "'big': only little-endian checkpoints are read"));
            QVERIFY(has(parseError(zipArchive({{"archive/data.pkl", pkl}, {"archive/data.pkl", pkl}})),
                        "entry 'archive/data.pkl' appears twice"));
            QVERIFY(
                has(parseError(zipArchive({{"archive/other.pkl", pkl}})), "a zip archive without data.pkl"));
        }
        {  // one storage of 1M floats viewed whole by 100 tensors: 400 MB from a 4 MB file, refused
            const T big = torch::zeros({1 << 20});
            Storage s;
            s.numel = 1 << 20;
            s.bytes.assign(static_cast<const char*>(big.data_ptr()), size_t(4 << 20));
            std::vector<Entry> views;
            for (int i = 0; i < 100; ++i)
                views.push_back(Entry{"v" + std::to_string(i), "0", 0, {1 << 20}, {1}});
            QVERIFY(has(parseError(checkpoint(views, {{"0", s}})),
                        "over 8 times the file's size: views that copy their storages over and over"));
            views.resize(2);  // a storage viewed twice (a weight and its transpose) is fine
            QCOMPARE(parseError(checkpoint(views, {{"0", s}})), std::string());
        }
        auto pickled = [](const std::string& body) {
            return zipArchive({{"archive/data.pkl", "\x80\x02" + body}});
        };
        // Names, calls and opcodes a state dict never uses.
        QVERIFY(has(parseError(pickled("\x8c\x08"
                                       "builtins"
                                       "\x8c\x04"
                                       "eval\x93.")),
                    "refers to the Python name 'builtins.eval'"));
        QVERIFY(has(parseError(pickled(pkGlobal("torch", "FloatStorage") + ")R.")),
                    "calls torch.FloatStorage, which makes no tensor"));
        QVERIFY(has(parseError(pickled("(i__main__\nX\n.")),
                    "pickle opcode 0x69 is not one a tensor state "
                    "dict uses"));
        QVERIFY(has(parseError(pickled("X\xff\xff\xff\xff")), "the pickle ends inside a value"));
        QVERIFY(has(parseError(pickled("h\x05.")), "refers to memo 5, never stored"));
        QVERIFY(has(parseError(pickled("N0.")), "STOP with a malformed stack"));
        QVERIFY(has(parseError(pickled("N" + pkStr("k") + pkStr("v") + "s.")), "SETITEM on None"));
        // A million marks, a million nested lists appended to themselves: bounded, no recursion anywhere.
        QVERIFY(has(parseError(pickled(std::string(1'000'000, '(') + ".")), "STOP with a malformed stack"));
        std::string selfRef("]q\0", 3);
        for (int i = 0; i < 200'000; ++i)
            selfRef += std::string("h\0a", 3);
        QVERIFY(has(parseError(pickled(selfRef + ".")), "holds a list, not a state dict"));
        QVERIFY(has(parseError(pickled(pkInt(3) + ".")), "holds an int, not a state dict"));
        QVERIFY(has(parseError(pickled("}" + pkInt(3) + pkInt(4) + "s.")), "a state dict key is an int"));
        // Not an archive at all, a cut one.
        QVERIFY(has(parseError("PK\x03\x04"), "damaged zip archive: shorter than a zip's end record"));
        QVERIFY(has(parseError(std::string(100, 'x')), "not a PyTorch checkpoint"));
        QVERIFY(has(parseError(""), "not a PyTorch checkpoint"));
    }

    // Every prefix of a real file and 3000 random corruptions: a load or a peft::Error, nothing else.
    void truncationsAndCorruptionsAreRefused() {
        const std::string good = fileBytes(kData + "state_dict_1_13.bin");
        QVERIFY(good.size() > 1000);
        for (size_t n = 0; n < good.size(); ++n) {
            const std::string msg = parseError(good.substr(0, n));
            if (msg.rfind("ckpt.bin", 0) != 0) QFAIL(("prefix " + std::to_string(n) + ": " + msg).c_str());
        }
        std::mt19937 rng(7);
        int loaded = 0, refused = 0;
        for (int i = 0; i < 3000; ++i) {
            std::string bad = good;
            const int flips = 1 + int(rng() % 4);
            for (int k = 0; k < flips; ++k)
                bad[rng() % bad.size()] = char(rng() & 0xff);
            try {
                parseTorchCheckpoint(bad.data(), bad.size(), "ckpt.bin");
                ++loaded;  // a flip inside padding or a name changes nothing the reader checks
            } catch (const Error& e) {
                ++refused;
                if (std::string(e.what()).rfind("ckpt.bin", 0) != 0) QFAIL(e.what());
            } catch (const std::exception& e) {
                QFAIL((std::string("not a peft::Error: ") + e.what()).c_str());
            }
        }
        qInfo("3000 corrupted copies: %d refused, %d still loaded", refused, loaded);
        QVERIFY(refused > 1500);

        // The CRC stops most flips inside data.pkl: corrupt the pickle itself and re-zip it (CRC recomputed),
        // so that the pickle machine sees the damage.
        const T base = torch::arange(12, torch::kFloat);
        Storage s;
        s.numel = 12;
        s.bytes.assign(static_cast<const char*>(base.data_ptr()), 48);
        const std::string pkl =
            statePickle({Entry{"w", "0", 0, {3, 4}, {4, 1}}, Entry{"t", "0", 0, {4, 3}, {1, 4}},
                         Entry{"r", "0", 4, {8}, {1}}},
                        {{"0", s}});
        QCOMPARE(parseError(zipArchive({{"archive/data.pkl", pkl}, {"archive/data/0", s.bytes}})),
                 std::string());
        int pklRefused = 0;
        for (int i = 0; i < 3000; ++i) {
            std::string bad = pkl;
            const int flips = 1 + int(rng() % 3);
            for (int k = 0; k < flips; ++k)
                bad[rng() % bad.size()] = char(rng() & 0xff);
            const std::string msg =
                parseError(zipArchive({{"archive/data.pkl", bad}, {"archive/data/0", s.bytes}}));
            if (!msg.empty() && msg.rfind("ckpt.bin", 0) != 0) QFAIL(msg.c_str());
            pklRefused += !msg.empty();
        }
        qInfo("3000 corrupted pickles: %d refused", pklRefused);
        QVERIFY(pklRefused > 1500);
    }
};

QTEST_GUILESS_MAIN(TestTorchPickle)
#include "test_torch_pickle.moc"
