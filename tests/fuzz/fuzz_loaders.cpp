// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target for the loaders of untrusted files: the first byte picks the safetensors reader, the
// project loader (the bytes as a .peftproj file, then every table read, JSON column and checkpoint parsed)
// or the resume-state parser, or the Hugging Face tokenizers (the bytes as text through BERT WordPiece and
// GPT-2 byte-level BPE, with the real vocabularies), or the data-file reader (TSV / CSV / JSON Lines), or
// the JSON reader, a tokenizer folder (tokenizer.json / tokenizer_config.json), a backbone config, a
// design-space spec, a run record, a study, a PyTorch checkpoint (0xfc), a SentencePiece model (0xfb), a
// Hugging Face config.json read as every family's (0xfa: bert … bart, mbart). A
// peft::Error is the expected answer to bad input; anything else (a crash, an uncaught exception, a sanitizer
// report) is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/hf_tokenizer.h"
#include "data/sentencepiece.h"
#include "data/table.h"
#include "io/safetensors.h"
#include "io/torch_pickle.h"
#include "model/backbone_config.h"
#include "model/config.h"
#include "peft/spec.h"
#include "project/project.h"
#include "project/run_record.h"
#include "study/study.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/json_read.h"

namespace {

// One private scratch folder per fuzzing process, removed when the process exits (libFuzzer ends with
// exit()).
struct Scratch {
    std::filesystem::path dir;
    Scratch() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "peft-fuzz-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) std::abort();
        dir = tmpl;
    }
    ~Scratch() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string operator/(const char* name) const { return (dir / name).string(); }
};

const Scratch& scratch() {
    static const Scratch s;
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        // 0xfe selects the run record (the case added last: the other seeds keep their cases).
        switch (data[0] == 0xfe   ? 9
                : data[0] == 0xfd ? 10
                : data[0] == 0xfc ? 11
                : data[0] == 0xfb ? 12
                : data[0] == 0xfa ? 13
                                  : data[0] % 9) {
            case 0:
                peft::parseSafetensors(bytes, "fuzz");
                break;
            case 1: {
                static const std::string path = scratch() / "fuzz.peftproj";
                std::remove((path + "-wal").c_str());
                std::remove((path + "-shm").c_str());
                {
                    std::ofstream out(path, std::ios::binary | std::ios::trunc);
                    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                }
                auto p = peft::Project::open(path, peft::Project::Mode::ReadOnly);
                p->backbone();
                p->datasets();
                for (const auto& r : p->runs()) {
                    p->metrics(r.id);
                    for (const char* kind : {"eval", "best"})
                        if (auto c = p->checkpoint(r.id, kind)) {
                            peft::parseSafetensors(c->tensors, "fuzz checkpoint");
                            if (!c->resume.empty())
                                peft::TrainCheckpoint::parseState(c->resume, "fuzz resume");
                        }
                }
                break;
            }
            case 2:
                peft::TrainCheckpoint::parseState(bytes, "fuzz");
                break;
            case 4: {  // a user's data file, as TSV, CSV and JSON Lines, strict and skipping bad rows
                static const std::string base = scratch() / "data";
                for (const char* ext : {".tsv", ".csv", ".jsonl"}) {
                    const std::string path = base + ext;
                    {
                        std::ofstream out(path, std::ios::binary | std::ios::trunc);
                        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                    }
                    for (bool skip : {false, true}) {
                        try {
                            peft::ImportOptions o;
                            o.skip_bad_rows = skip;
                            const auto t = peft::importClassification(path, o);
                            for (const auto& r : t.rows)
                                if (peft::invalidUtf8Offset(r.text) >= 0 || r.text.empty()) __builtin_trap();
                            peft::labelIndices(t, peft::inferLabels(t.rows));
                        } catch (const peft::Error&) {
                        }
                    }
                }
                break;
            }
            case 5: {  // any JSON input: depth, duplicates, size; then lenient typed reads of its fields
                const nlohmann::json j = peft::parseJson(bytes, "fuzz.json");
                if (j.is_object()) {
                    const peft::JsonFields f(j, "fuzz.json");
                    for (auto it = j.begin(); it != j.end(); ++it) {
                        try {
                            f.integer(it.key(), 0);
                        } catch (const peft::Error&) {
                        }
                        try {
                            f.number(it.key(), 0.0);
                        } catch (const peft::Error&) {
                        }
                    }
                    (void)j.dump();  // a value accepted must be safe to copy and print
                }
                break;
            }
            case 6: {  // a Hugging Face tokenizer folder: the bytes as tokenizer.json, then as its config
                static const std::string dir = scratch() / "tokenizer";
                std::filesystem::create_directories(dir);
                for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
                    std::filesystem::remove(dir + "/tokenizer.json");
                    std::filesystem::remove(dir + "/tokenizer_config.json");
                    {
                        std::ofstream out(dir + "/" + file, std::ios::binary | std::ios::trunc);
                        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                    }
                    if (std::string(file) == "tokenizer_config.json")  // a real tokenizer beside the config
                        std::filesystem::copy_file(PEFT_TEST_DATA "/tokenizers/gpt2/vocab.json",
                                                   dir + "/vocab.json",
                                                   std::filesystem::copy_options::overwrite_existing);
                    for (const char* type : {"gpt2", "bert", "roberta"}) {
                        try {
                            const auto tok = peft::loadHfTokenizer(dir, type);
                            tok->encodeIds("the [SEP] <|endoftext|> Ġ quick brown fox");
                        } catch (const peft::Error&) {
                        }
                    }
                    std::filesystem::remove(dir + "/vocab.json");
                }
                break;
            }
            case 7: {  // a backbone config.json (the workbench's own form), validated
                peft::ModelConfig c = peft::parseJson(bytes, "config.json").get<peft::ModelConfig>();
                c.validate();
                break;
            }
            case 8:  // a design-space spec
                peft::specFromJsonText(bytes, "spec.json");
                break;
            case 9: {  // a run record (what `project show` prints, what a run's train_config holds): read,
                       // and what was read writes and reads back to the same settings
                const peft::RunRecipe r =
                    peft::runRecipeFromJson(peft::parseJson(bytes, "record.json"), "record");
                if (peft::runRecipeFromJson(peft::runRecipeToJson(r), "again").train != r.train)
                    __builtin_trap();
                break;
            }
            case 10: {  // a study file: read, written and read again to the same study; its runs counted
                const peft::Study s = peft::studyFromJson(peft::parseJson(bytes, "study.json"), "study");
                if (peft::studyToJson(peft::studyFromJson(peft::studyToJson(s), "again")) !=
                    peft::studyToJson(s))
                    __builtin_trap();
                peft::studyCells(s);
                break;
            }
            case 11: {  // a PyTorch checkpoint (pytorch_model.bin): zip, pickle, storages
                const auto t = peft::parseTorchCheckpoint(bytes.data(), bytes.size(), "fuzz.bin");
                for (const auto& kv : t)
                    if (!kv.second.is_contiguous()) __builtin_trap();
                break;
            }
            case 12: {  // a SentencePiece model (mBART's sentencepiece.bpe.model), then text through it
                const peft::SentencePieceModel m(bytes, "fuzz.model");
                std::vector<std::string> pieces;
                std::vector<int> ids;
                m.encode("the  movie\tＦＵＬＬ ﬁne \xe2\x96\x81 \xff", pieces, ids);
                for (int id : ids)
                    if (id < 0 || id >= m.size()) __builtin_trap();
                break;
            }
            case 13: {  // a Hugging Face config.json, read as each family's (BART's and mBART's encoder and
                        // decoder sizes, offsets and special ids included) and validated
                nlohmann::json j = peft::parseJson(bytes, "config.json");
                for (const std::string& type : peft::supportedHfModelTypes()) {
                    if (j.is_object()) j["model_type"] = type;
                    try {
                        peft::hfModelConfig(j, "config.json").validate();
                    } catch (const peft::Error&) {
                    }
                }
                break;
            }
            default: {
                static const auto bert = peft::WordPieceTokenizer::fromVocabFile(
                    PEFT_TEST_DATA "/tokenizers/bert-base-uncased/vocab.txt");
                static const auto gpt2 =
                    peft::ByteLevelBpeTokenizer::fromFiles(PEFT_TEST_DATA "/tokenizers/gpt2/vocab.json",
                                                           PEFT_TEST_DATA "/tokenizers/gpt2/merges.txt");
                const auto e = bert->encode(bytes, bytes);
                for (int64_t id : e.ids)
                    if (id < 0 || id >= bert->vocabSize()) __builtin_trap();
                const auto ids = gpt2->encodeIds(bytes);
                if (gpt2->decode(ids) != bytes)
                    __builtin_trap();  // byte-level BPE is lossless on valid UTF-8
            }
        }
    } catch (const peft::Error&) {
    }
    return 0;
}
