// SPDX-License-Identifier: GPL-3.0-or-later
#include "run_process.h"

#include <QCoreApplication>
#include <QFileInfo>

#include "util/json_read.h"

namespace peft::ui {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

double number(const nlohmann::json& j) {
    return j.is_number() ? j.get<double>() : 0.0;
}

}  // namespace

QString peftwbPath() {
    const QString exe = QCoreApplication::applicationDirPath() + QStringLiteral("/peftwb");
    return QFileInfo(exe).isExecutable() ? exe : QString();
}

RunProcess::RunProcess(const QString& exe, QObject* parent) : QObject(parent), exe_(exe) {
    process_.setProcessChannelMode(QProcess::SeparateChannels);
    connect(&process_, &QProcess::readyReadStandardOutput, this, &RunProcess::readLines);
    connect(&process_, &QProcess::started, this, [this] { process_.write(std::exchange(early_, {})); });
    connect(&process_, &QProcess::readyReadStandardError, this, [this] {
        // Kept short: the last lines say why a child failed.
        errors_ = (errors_ + QString::fromUtf8(process_.readAllStandardError())).right(2000);
    });
    connect(&process_, &QProcess::finished, this, [this](int code, QProcess::ExitStatus how) {
        readLines();
        // As RunWorker: a run that ended (finished, cancelled, diverged) is ok, one that failed is not.
        static const QStringList ended = {QStringLiteral("finished"), QStringLiteral("cancelled"),
                                          QStringLiteral("diverged")};
        const bool ok = how == QProcess::NormalExit && (code == 0 || ended.contains(lastStatus_));
        QString message = lastMessage_;
        if (!ok && message.isEmpty()) {
            const QStringList lines = errors_.trimmed().split(QLatin1Char('\n'));
            message = how == QProcess::CrashExit
                          ? tr("the training process ended abnormally (%1)").arg(process_.errorString())
                      : lines.isEmpty() ? tr("exit code %1").arg(code)
                                        : lines.last();
        }
        Q_EMIT finished(run_, ok, message);
    });
    connect(&process_, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart)
            Q_EMIT finished(run_, false, tr("cannot start %1: %2").arg(exe_, process_.errorString()));
    });
}

RunProcess::~RunProcess() {
    if (!isRunning()) return;
    process_.disconnect(this);
    cancel();  // the child writes its checkpoint state and marks the run cancelled, resumable
    if (!process_.waitForFinished(10000)) {
        process_.kill();
        process_.waitForFinished(2000);
    }
}

void RunProcess::start(const QString& project, qint64 run, bool resume, int threads, const QString& device) {
    run_ = run;
    lastStatus_.clear();
    lastMessage_.clear();
    errors_.clear();
    pending_.clear();
    early_.clear();
    QStringList args{QStringLiteral("project"),
                     resume ? QStringLiteral("resume") : QStringLiteral("run"),
                     project,
                     QStringLiteral("--run"),
                     QString::number(run),
                     QStringLiteral("--threads"),
                     QString::number(std::max(1, threads)),
                     QStringLiteral("--events")};
    if (!device.isEmpty()) args << QStringLiteral("--device") << device;
    process_.start(exe_, args);
}

void RunProcess::command(const char* line) {
    if (process_.state() == QProcess::Starting)
        early_ += QByteArray(line) + '\n';  // written once the child runs
    else if (process_.state() == QProcess::Running)
        process_.write(QByteArray(line) + '\n');
}

void RunProcess::pause() {
    command("pause");
}

void RunProcess::resume() {
    command("resume");
}

void RunProcess::cancel() {
    command("cancel");
}

void RunProcess::readLines() {
    pending_ += process_.readAllStandardOutput();
    QVector<MetricSample> samples;
    for (qsizetype end; (end = pending_.indexOf('\n')) >= 0;) {
        const QByteArray line = pending_.left(end).trimmed();
        pending_.remove(0, end + 1);
        if (!line.startsWith('{')) continue;  // the child's own summary line
        nlohmann::json j;
        try {
            j = parseJson(std::string_view(line.constData(), size_t(line.size())), "training process");
        } catch (const std::exception&) {
            continue;
        }
        if (!j.is_object()) continue;
        if (const auto p = j.find("progress"); p != j.end() && p->is_array() && p->size() == 4) {
            Q_EMIT progress(run_, qint64(number((*p)[0])), qint64(number((*p)[1])), number((*p)[2]),
                            number((*p)[3]));
        } else if (const auto m = j.find("metric"); m != j.end() && m->is_array() && m->size() == 5 &&
                                                    (*m)[2].is_string() && (*m)[3].is_string()) {
            samples.push_back({qint64(number((*m)[0])), number((*m)[1]), qs((*m)[2].get<std::string>()),
                               qs((*m)[3].get<std::string>()),
                               (*m)[4].is_number() ? (*m)[4].get<double>() : qQNaN()});
        } else if (const auto s = j.find("status"); s != j.end() && s->is_array() && s->size() == 2 &&
                                                    (*s)[0].is_string() && (*s)[1].is_string()) {
            if (!samples.isEmpty()) Q_EMIT metrics(run_, std::exchange(samples, {}));
            lastStatus_ = qs((*s)[0].get<std::string>());
            lastMessage_ = qs((*s)[1].get<std::string>());
            Q_EMIT statusChanged(run_, lastStatus_, lastMessage_);
        }
    }
    if (pending_.size() > (1 << 20)) pending_.clear();  // no line is that long: not the protocol
    if (!samples.isEmpty()) Q_EMIT metrics(run_, samples);
}

}  // namespace peft::ui
