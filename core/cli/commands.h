// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal to the CLI: the subcommands implemented outside cli.cpp and the helpers they share.
#include <ostream>
#include <string>

#include "model/config.h"
#include "peft/spec.h"
#include "util/args.h"

namespace peft {

/// --config FILE, or the default backbone config.
ModelConfig backboneConfig(const Args& a);
/// --spec FILE, or --preset ID sized by --r / --l / --budget; validated against `cfg`.
Spec chosenSpec(const Args& a, const ModelConfig& cfg);
std::string readFile(const std::string& path, const std::string& what);

int cmdTrain(const Args& a, std::ostream& out, std::ostream& err);
int cmdScore(const Args& a, std::ostream& out, std::ostream& err);
int cmdBench(const Args& a, std::ostream& out, std::ostream& err);

}  // namespace peft
