// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// QCustomPlot's header uses Qt's lower-case keywords (signals, foreach), which every target here turns
// off with QT_NO_KEYWORDS because they collide with torch headers. Map them for this header only.
// Never include a torch header in the same translation unit before this one.
#include <QtGlobal>

#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach
