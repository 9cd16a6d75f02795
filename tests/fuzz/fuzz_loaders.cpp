// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target for the loaders of untrusted files: the first byte picks the safetensors reader, the
// project loader (the bytes as a .peftproj file, then every table read and every checkpoint parsed) or the
// resume-state parser, or the Hugging Face tokenizers (the bytes as text through BERT WordPiece and GPT-2
// byte-level BPE, with the real vocabularies), or the data-file reader (TSV / CSV / JSON Lines). A
// peft::Error is the expected answer to bad input; anything else (a crash, an uncaught exception, a sanitizer
// report) is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "data/hf_tokenizer.h"
#include "data/table.h"
#include "io/safetensors.h"
#include "project/project.h"
#include "train/trainer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 5) {
            case 0:
                peft::parseSafetensors(bytes, "fuzz");
                break;
            case 1: {
                static const std::string path = "/tmp/peft-fuzz-" + std::to_string(getpid()) + ".peftproj";
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
                static const std::string base = "/tmp/peft-fuzz-" + std::to_string(getpid());
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
