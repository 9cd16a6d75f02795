// SPDX-License-Identifier: GPL-3.0-or-later
// The trainer's status names and the byte format of its resume state. Kept apart from the trainer so that
// the project loader (and its fuzz target) can parse them without the training code.
#include <nlohmann/json.hpp>

#include "train/trainer.h"
#include "util/error.h"
#include "util/json_read.h"

namespace peft {

std::string TrainCheckpoint::serializeState() const {
    // 8-byte little-endian length of a JSON header, the header, then the optimizer and RNG bytes.
    const nlohmann::json h = {{"format", "peft-resume-1"},
                              {"step", step},
                              {"wall_time", wall_time},
                              {"have_best", have_best},
                              {"best_dev_metric", best_dev_metric},
                              {"best_step", best_step},
                              {"evals_without_gain", evals_without_gain},
                              {"optimizer_bytes", optimizer.size()},
                              {"rng_bytes", rng.size()}};
    const std::string header = h.dump();
    std::string out;
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    return out + header + optimizer + rng;
}

TrainCheckpoint TrainCheckpoint::parseState(const std::string& bytes, const std::string& source) {
    if (bytes.size() < 8)
        throw Error(source, "resume state is truncated (" + std::to_string(bytes.size()) + " bytes)");
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
        n |= uint64_t(static_cast<unsigned char>(bytes[size_t(i)])) << (8 * i);
    if (n > bytes.size() - 8)
        throw Error(source, "resume state header length " + std::to_string(n) + " exceeds its " +
                                std::to_string(bytes.size()) + " bytes");
    nlohmann::json h;
    try {
        h = parseJson(std::string_view(bytes).substr(8, n), "header");
    } catch (const Error& e) {
        throw Error(source, "resume state header: " + std::string(e.what()));
    }
    const auto format = h.is_object() ? h.find("format") : h.end();
    if (format == h.end() || !format->is_string() || format->get<std::string>() != "peft-resume-1")
        throw Error(source, "resume state header is not a peft-resume-1 JSON object");
    TrainCheckpoint c;
    try {
        c.step = h.at("step").get<int64_t>();
        c.wall_time = h.at("wall_time").get<double>();
        c.have_best = h.at("have_best").get<bool>();
        c.best_dev_metric = h.at("best_dev_metric").get<double>();
        c.best_step = h.at("best_step").get<int64_t>();
        c.evals_without_gain = h.at("evals_without_gain").get<int64_t>();
        const uint64_t ob = h.at("optimizer_bytes").get<uint64_t>(), rb = h.at("rng_bytes").get<uint64_t>();
        if (ob > bytes.size() || rb > bytes.size() || 8 + n + ob + rb != bytes.size())
            throw Error(source,
                        "resume state sizes do not add up to its " + std::to_string(bytes.size()) + " bytes");
        c.optimizer = bytes.substr(8 + n, ob);
        c.rng = bytes.substr(8 + n + ob, rb);
    } catch (const nlohmann::json::exception& e) {
        throw Error(source, std::string("resume state header: ") + e.what());
    }
    if (c.step < 0) throw Error(source, "resume state has a negative step");
    return c;
}

}  // namespace peft
