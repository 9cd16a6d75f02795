// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "util/error.h"

namespace peft {

namespace {

/// Tokens that would complete an n-gram already present in `seq`.
std::set<int64_t> bannedTokens(const std::vector<int64_t>& seq, size_t start, int n) {
    std::set<int64_t> banned;
    if (n <= 0) return banned;
    const size_t un = static_cast<size_t>(n);
    const std::vector<int64_t> gen(seq.begin() + static_cast<std::ptrdiff_t>(start), seq.end());
    if (gen.size() + 1 < un) return banned;
    const std::vector<int64_t> tail(gen.end() - static_cast<std::ptrdiff_t>(un - 1), gen.end());
    for (size_t i = 0; i + un <= gen.size(); ++i)
        if (std::equal(tail.begin(), tail.end(), gen.begin() + static_cast<std::ptrdiff_t>(i)))
            banned.insert(gen[i + un - 1]);
    return banned;
}

double normalised(double score, size_t length, double penalty) {
    return penalty == 0.0 ? score : score / std::pow(double(std::max<size_t>(length, 1)), penalty);
}

}  // namespace

std::vector<int64_t> decode(const std::vector<int64_t>& prompt, const NextTokenFn& next,
                            const GenerateOptions& opts) {
    const size_t start = prompt.size();
    const double ninf = -std::numeric_limits<double>::infinity();
    struct Hyp {
        std::vector<int64_t> seq;
        double score = 0;
    };

    if (opts.beam_size <= 1) {  // greedy
        std::vector<int64_t> seq = prompt;
        for (int64_t t = 0; t < opts.max_new_tokens; ++t) {
            torch::Tensor lp = next({seq}, t == 0 ? std::vector<size_t>{} : std::vector<size_t>{0})[0]
                                   .to(torch::kDouble)
                                   .clone();  // [V]
            for (int64_t b : bannedTokens(seq, start, opts.no_repeat_ngram))
                lp[b] = ninf;
            if (t < opts.min_new_tokens) lp[opts.eos_id] = ninf;
            if (t == 0 && opts.forced_first >= 0) {
                const double forced = lp[opts.forced_first].item<double>();
                lp.fill_(ninf);
                lp[opts.forced_first] = std::isfinite(forced) ? forced : 0.0;
            }
            const int64_t tok = lp.argmax().item<int64_t>();
            if (tok == opts.eos_id) break;
            seq.push_back(tok);
        }
        return {seq.begin() + static_cast<std::ptrdiff_t>(start), seq.end()};
    }

    const size_t beams = static_cast<size_t>(opts.beam_size);
    std::vector<Hyp> live{{prompt, 0.0}};
    std::vector<size_t> parents;  // the row of the previous step each live hypothesis extends
    std::vector<std::pair<double, std::vector<int64_t>>> finished;  // (normalised score, generated tokens)
    for (int64_t t = 0; t < opts.max_new_tokens && !live.empty(); ++t) {
        std::vector<std::vector<int64_t>> seqs;
        for (const auto& h : live)
            seqs.push_back(h.seq);
        const torch::Tensor lp = next(seqs, parents).to(torch::kDouble).contiguous();  // [N, V]
        const int64_t V = lp.size(1);
        const double* data = lp.data_ptr<double>();
        struct Cand {
            double score;
            size_t from;
            int64_t tok;
        };
        std::vector<Cand> cands;
        for (size_t i = 0; i < live.size(); ++i) {
            const auto banned = bannedTokens(live[i].seq, start, opts.no_repeat_ngram);
            for (int64_t v = 0; v < V; ++v) {
                const double s = data[static_cast<int64_t>(i) * V + v];
                if (t == 0 && opts.forced_first >= 0 && v != opts.forced_first) continue;
                if (t < opts.min_new_tokens && v == opts.eos_id) continue;
                if (!std::isfinite(s) || banned.count(v)) continue;
                cands.push_back({live[i].score + s, i, v});
            }
        }
        std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.score > b.score; });
        std::vector<Hyp> nextLive;
        parents.clear();
        for (const Cand& c : cands) {
            if (nextLive.size() >= beams) break;
            const size_t generated = live[c.from].seq.size() - start;
            if (c.tok == opts.eos_id) {
                finished.push_back({normalised(c.score, generated + 1, opts.length_penalty),
                                    {live[c.from].seq.begin() + static_cast<std::ptrdiff_t>(start),
                                     live[c.from].seq.end()}});
                continue;
            }
            Hyp h{live[c.from].seq, c.score};
            h.seq.push_back(c.tok);
            nextLive.push_back(std::move(h));
            parents.push_back(c.from);
        }
        live = std::move(nextLive);
        // Done when enough hypotheses finished and no live one can still beat the worst of the best `beams`.
        if (finished.size() >= beams && !live.empty()) {
            std::sort(finished.begin(), finished.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
            const double worst = finished[beams - 1].first;
            double bestLive = ninf;
            for (const auto& h : live)
                bestLive = std::max(bestLive, normalised(h.score, h.seq.size() - start, opts.length_penalty));
            // Exact without length normalisation (scores only fall as a hypothesis grows); the usual
            // heuristic with it.
            if (bestLive < worst) break;
        }
    }
    for (const auto& h : live)
        finished.push_back({normalised(h.score, h.seq.size() - start, opts.length_penalty),
                            {h.seq.begin() + static_cast<std::ptrdiff_t>(start), h.seq.end()}});
    if (finished.empty()) return {};
    return std::max_element(finished.begin(), finished.end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; })
        ->second;
}

namespace {

/// Sequences right-padded into ids and mask [N, T], keeping each one's last `window` tokens.
std::pair<torch::Tensor, torch::Tensor> padded(const std::vector<std::vector<int64_t>>& seqs, int64_t pad_id,
                                               int64_t window, const torch::Device& device) {
    size_t T = 0;
    for (const auto& s : seqs)
        T = std::max(T, s.size());
    const int64_t N = static_cast<int64_t>(seqs.size());
    torch::Tensor ids = torch::full({N, static_cast<int64_t>(T)}, pad_id, torch::kLong);
    torch::Tensor mask = torch::zeros({N, static_cast<int64_t>(T)}, torch::kLong);
    for (int64_t i = 0; i < N; ++i) {
        const auto& s = seqs[static_cast<size_t>(i)];
        ids[i].narrow(0, 0, static_cast<int64_t>(s.size())).copy_(torch::tensor(s, torch::kLong));
        mask[i].narrow(0, 0, static_cast<int64_t>(s.size())).fill_(1);
    }
    if (static_cast<int64_t>(T) > window) {
        ids = ids.narrow(1, static_cast<int64_t>(T) - window, window);
        mask = mask.narrow(1, static_cast<int64_t>(T) - window, window);
    }
    return {ids.to(device), mask.to(device)};
}

}  // namespace

std::vector<int64_t> generate(Transformer& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options, int64_t pad_id) {
    torch::NoGradGuard ng;
    const auto device = model->tok->weight.device();
    const ModelConfig& cfg = model->config();
    const bool encDec = cfg.encoderDecoder();
    GenerateOptions opts = options;
    if (encDec && opts.forced_first < 0) opts.forced_first = cfg.forced_bos_id;
    // The sequences decode() extends: the causal model's prompt, or the decoder's start token.
    const std::vector<int64_t> start = encDec ? std::vector<int64_t>{cfg.decoder_start_id} : prompt;
    const int64_t window = encDec ? model->maxDecoderTokens() : model->maxInputTokens();
    const bool cached = opts.kv_cache && (cfg.causal || encDec);
    DecodeCache cache;
    ForwardOptions fo;
    auto lastLogProbs = [](const torch::Tensor& rows) {
        return torch::log_softmax(rows.to(torch::kFloat), -1).cpu();
    };
    // An encoder–decoder's source, read whole (truncated to the encoder's positions).
    torch::Tensor source;
    if (encDec) {
        if (prompt.empty()) throw Error("generate", "an encoder–decoder needs a source (the input is empty)");
        const size_t keep =
            std::min(prompt.size(), static_cast<size_t>(std::max<int64_t>(model->maxInputTokens(), 1)));
        source = torch::tensor(
                     std::vector<int64_t>(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(keep)),
                     torch::kLong)
                     .view({1, -1})
                     .to(device);
    }
    // The next-token logits of every row: the whole sequence, or its new token when the cache has the rest.
    auto run = [&](const torch::Tensor& ids, const torch::Tensor& mask) {
        if (!encDec) return model->forward(ids, mask, {}, fo).lm_logits;
        fo.decoder_ids = ids;
        fo.decoder_mask = mask;
        const bool encoded = fo.cache && fo.cache->length > 0;
        return model
            ->forward(encoded ? torch::Tensor() : source.expand({ids.size(0), source.size(1)}), {}, {}, fo)
            .lm_logits;
    };

    NextTokenFn next = [&](const std::vector<std::vector<int64_t>>& seqs,
                           const std::vector<size_t>& parents) {
        const size_t len = seqs.front().size();
        const bool sameLength =
            std::all_of(seqs.begin(), seqs.end(), [&](const auto& s) { return s.size() == len; });
        const int64_t N = static_cast<int64_t>(seqs.size());
        // Every sequence whole (right-padded), keeping its most recent `window` tokens.
        auto reread = [&] {
            const auto [ids, mask] = padded(seqs, pad_id, window, device);
            const torch::Tensor logits = run(ids, mask);                                  // [N, T, V]
            const torch::Tensor last = mask.sum(1) - 1;                                   // [N]
            return lastLogProbs(logits.index({torch::arange(N, last.options()), last}));  // [N, V]
        };
        // Past the window the oldest tokens drop out and every position moves: re-read (as without a cache).
        if (!cached || !sameLength || static_cast<int64_t>(len) > window) {
            fo.cache = nullptr;
            return reread();
        }
        fo.cache = &cache;
        if (parents.empty() || cache.length == 0) {  // the prompt, once
            cache = DecodeCache{};
            return reread();  // one length, no padding: the cache holds every row whole
        }
        std::vector<int64_t> rows(parents.begin(), parents.end()), last;
        for (const auto& s : seqs)
            last.push_back(s.back());
        cache.reorder(torch::tensor(rows, torch::kLong));
        const torch::Tensor ids = torch::tensor(last, torch::kLong).view({N, 1}).to(device);
        return lastLogProbs(run(ids, {}).select(1, 0));  // [N, V]
    };
    return decode(start, next, opts);
}

}  // namespace peft
