// SPDX-License-Identifier: GPL-3.0-or-later
// peftwb study: the paper's experiments as studies — list, show, run (queue the arms × budgets × tasks ×
// seeds in a project, then train what is not finished), report (Markdown, CSV, LaTeX, SVG).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/text_table.h"
#include "project/run_record.h"
#include "run/executor.h"
#include "study/study.h"
#include "util/error.h"

namespace peft {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

StudyOptions studyOptions(const Args& a) {
    StudyOptions o;
    o.seeds = a.getInt("seeds");
    o.steps = a.getInt("steps");
    if (const auto t = a.get("task")) {
        std::stringstream ss(*t);
        for (std::string task; std::getline(ss, task, ',');)
            if (!task.empty()) o.tasks.push_back(task);
    }
    return o;
}

void writeFile(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw Error(path.string(), "write failed");
}

}  // namespace

int cmdStudy(const Args& a, std::ostream& out, std::ostream& err) {
    const auto& pos = a.positional();
    if (pos.empty()) throw Error("study", "expected 'peftwb study list|show|run|report …'");
    const std::string& sub = pos[0];
    if (sub == "list") {
        const std::vector<Study> all = builtinStudies();
        if (a.flag("json")) {
            json j = json::array();
            for (const Study& s : all)
                j.push_back({{"id", s.id}, {"title", s.title}, {"runs", studyCells(s).size()}});
            out << j.dump(2) << "\n";
            return 0;
        }
        TextTable t({{"id"}, {"title", false, 70}, {"runs", true}});
        for (const Study& s : all)
            t.add({s.id, s.title, std::to_string(studyCells(s).size())});
        t.print(out);
        return 0;
    }
    if (pos.size() != 2) throw Error("study", "expected 'peftwb study " + sub + " ID|FILE'");
    const Study study = loadStudy(pos[1]);
    const StudyOptions opts = studyOptions(a);
    if (sub == "show") {
        const std::vector<StudyCell> cells = studyCells(study, opts);
        if (a.flag("json")) {
            json j = studyToJson(study);
            j["runs"] = cells.size();
            out << j.dump(2) << "\n";
            return 0;
        }
        out << study.title << " (" << study.id << ")\n";
        if (!study.claim.empty()) out << "claim: " << study.claim << "\n";
        if (!study.source.empty()) out << "from: " << study.source << "\n";
        out << "tasks:";
        for (const auto& t : opts.tasks.empty() ? study.tasks : opts.tasks)
            out << " " << t;
        out << "; seeds: " << opts.seeds.value_or(study.seeds)
            << "; training settings: " << study.train.dump()
            << (study.train_size > 0 ? "; " + std::to_string(study.train_size) + " training examples" : "")
            << "\narms:\n";
        for (const auto& arm : study.arms) {
            out << "  " << arm.id << ": " << arm.label << " (" << (arm.spec ? "own spec" : arm.preset)
                << (arm.random_init ? ", random init" : "") << ")";
            if (!arm.budgets.empty()) {
                out << " at";
                for (double b : arm.budgets)
                    out << " " << b << " %";
            }
            out << "\n";
        }
        if (!study.comparisons.empty()) out << "comparisons:\n";
        for (const auto& c : study.comparisons)
            out << "  " << c.better << " > " << c.worse << (c.claim.empty() ? "" : ": " + c.claim) << "\n";
        if (!study.gates.empty()) out << "gates:\n";
        for (const auto& g : study.gates)
            out << "  " << g.arm << " ≥ " << number(g.at_least) << (g.claim.empty() ? "" : ": " + g.claim)
                << "\n";
        out << cells.size() << " runs (arms × budgets × tasks × seeds)\n";
        return 0;
    }
    const auto projectArg = a.get("project");
    if (!projectArg) throw Error("--project", "missing: the project file the study's runs go in");
    const std::string file = *projectArg;
    if (sub == "run") {
        StudyOptions o = opts;
        {
            std::unique_ptr<Project> p =
                fs::exists(file) ? Project::open(file)
                                 : Project::create(file, backboneRefToJson(backboneRefFromArgs(a)));
            if (a.get("data")) {  // the user's data instead of the study's tasks
                const int64_t dataset = addFileDataset(*p, fileSpecFromArgs(a));
                o.tasks = {"dataset:" + std::to_string(dataset)};
            }
            const QueuedStudy q = queueStudy(*p, study, o);
            out << "study " << study.id << ": " << q.runs.size() << " runs, " << q.added << " queued now, "
                << q.runs.size() - size_t(q.added) << " already in " << file << "\n";
            if (a.flag("queue-only")) return 0;
        }
        // Trains what is queued or interrupted (finished, failed and diverged runs are not run again).
        std::vector<QueuedRun> todo;
        {
            auto p = Project::open(file, Project::Mode::ReadOnly);
            for (const StudyRunResult& r : studyResults(*p, study, o))
                if (r.run != 0 && (r.state == RunState::Queued || r.state == RunState::Interrupted ||
                                   r.state == RunState::Cancelled))
                    todo.push_back(
                        {r.run, r.state != RunState::Queued && p->checkpoint(r.run, "eval").has_value()});
        }
        out << "training " << todo.size() << " runs" << std::endl;
        return runProjectRuns(file, todo, a.getInt("parallel").value_or(1), a.getInt("threads"), out, false,
                              placementFromArgs(a));
    }
    if (sub == "report") {
        auto p = Project::open(file, Project::Mode::ReadOnly);
        for (const auto& m : p->openMessages())
            err << file << ": " << m << "\n";
        StudyOptions o = opts;
        if (o.tasks.empty()) o.tasks = studyTasksInProject(*p, study);  // e.g. the --data it ran on
        const StudyReport r = studyReport(study, studyResults(*p, study, o));
        std::string pngNote;
        if (const auto dir = a.get("out")) {
            fs::create_directories(*dir);
            writeFile(fs::path(*dir) / "plot.svg", reportSvg(study, r));
            writeFile(fs::path(*dir) / "report.md", reportMarkdown(study, r, "plot.svg"));
            writeFile(fs::path(*dir) / "runs.csv", reportCsv(r));
            writeFile(fs::path(*dir) / "table.tex", reportLatex(study, r));
            // plot.png: the Studies view's own plot, drawn by the workbench without a window (this binary has
            // no Qt); a build without the GUI, or another --seeds / --task than the view's, keeps plot.svg
            // only.
            const fs::path gui = fs::path(selfExe()).parent_path() / "peft-workbench";
            std::string png = "plot.png not written: ";
            if (!fs::exists(gui)) {
                png += "the workbench is not built beside peftwb";
            } else if (opts.seeds || !opts.tasks.empty()) {
                png += "--seeds and --task are not the Studies view's";
            } else {
                const int pid = spawnChild({gui.string(), file, "--study", pos[1], "--study-plot",
                                            (fs::path(*dir) / "plot.png").string()},
                                           {"QT_QPA_PLATFORM=offscreen"});
                png =
                    pid > 0 && waitChild(pid) == 0 ? std::string() : png + "the workbench could not draw it";
            }
            pngNote = png;
        }
        if (a.flag("json")) {
            json j = reportJson(study, r);
            if (a.get("out")) j["plot_png"] = pngNote.empty() ? json("plot.png") : json(pngNote);
            out << j.dump(2) << "\n";
            return 0;
        }
        TextTable t(
            {{"arm"}, {"budget", true}, {"task"}, {"n", true}, {"mean [95 % CI]"}, {"missing", false, 40}});
        for (const auto& c : r.cells) {
            std::string missing;
            for (const auto& m : c.missing)
                missing += (missing.empty() ? "" : "; ") + m;
            char mean[96] = "-";
            if (c.summary.n > 0)
                std::snprintf(mean, sizeof mean, c.summary.hasInterval() ? "%.3f [%.3f, %.3f]" : "%.3f",
                              c.summary.mean, c.summary.lo, c.summary.hi);
            t.add({c.arm, c.budget > 0 ? number(c.budget) + " %" : "default", c.task,
                   std::to_string(c.summary.n), mean, missing});
        }
        t.print(out);
        for (const auto& v : r.verdicts)
            out << verdictSubject(study, v) << " on " << v.task << ": " << v.verdict.text << "\n";
        for (const auto& c : r.ceilings) {
            out << "headroom: the best arm, " << c.best_arm << ", is " << c.distance << " below the "
                << c.metric << " ceiling (" << c.ceiling << ")";
            if (!c.at_ceiling.empty()) {
                out << "; at the ceiling:";
                for (const auto& x : c.at_ceiling)
                    out << " " << x;
            }
            out << "\n";
        }
        if (const auto dir = a.get("out"))
            out << "wrote report.md, runs.csv, table.tex, plot.svg" << (pngNote.empty() ? ", plot.png" : "")
                << " in " << *dir << (pngNote.empty() ? "" : " (" + pngNote + ")") << "\n";
        return 0;
    }
    throw Error("study", "unknown subcommand '" + sub + "' (list, show, run, report)");
}

}  // namespace peft
