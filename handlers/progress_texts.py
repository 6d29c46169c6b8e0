"""The Chinese texts of /progress, /require and /export.

Message texts are Telegram-HTML (values filled into ``{}`` are escaped by the caller). The progress lines come
from bot.services.requirements.format_progress, a weaker minimum's refusal from apply_overrides, and the
exported file's own headings from bot.services.ledger.
"""

from __future__ import annotations

# -- /progress ------------------------------------------------------------------------------------------------------

PROGRESS_ACTION = "查看组织生活进度"
PROGRESS = "<b>{branch}</b>\n{progress}\n\n<i>注：活动由组织者用 /done 标记为已召开后才计入。</i>"

# -- /require -------------------------------------------------------------------------------------------------------

REQUIRE_LIST_ACTION = "查看本支部的要求"
REQUIRE_SET_ACTION = "设置本支部的要求"
REQUIRE_TABLE = (
    "<b>{branch}的组织生活要求</b>\n{lines}\n\n"
    "书记可以提高本支部的要求（不能低于统一要求），例如：\n<code>/require 支委会 2</code>\n"
    "改回统一要求：把次数写成统一要求的次数。"
)
REQUIRE_LINE = "• {label}"
REQUIRE_LINE_LOCAL = "• {label}（本支部要求，统一要求为{common}次）"
REQUIRE_USAGE = "用法：<code>/require 要求名称 次数</code>，例如 <code>/require 支委会 2</code>\n可设置的要求：{names}"
REQUIRE_UNKNOWN = "没有「{name}」这一项要求。可设置的要求：{names}"
REQUIRE_BAD_NUMBER = "次数请写 1 到 {limit} 之间的整数，例如 <code>/require 支委会 2</code>"
REQUIRE_SET = "已设置：{label}（本支部要求，统一要求为{common}次）。/progress 会按新要求统计。"
REQUIRE_RESET = "已恢复统一要求：{label}。"
NAME_SEPARATOR = "、"

# -- /export --------------------------------------------------------------------------------------------------------

EXPORT_ACTION = "导出台账"
EXPORT_USAGE = (
    "{reason}。统计期请写成：\n"
    "<code>/export 2026Q4</code> — 2026年第四季度\n"
    "<code>/export 2026-11</code> — 2026年11月\n"
    "<code>/export 2026</code> — 2026年全年\n"
    "不写统计期则导出本季度；末尾加 <code>csv</code> 导出 CSV 表格，例如 <code>/export 2026 csv</code>"
)
EXPORT_TOO_MANY = "参数太多"
EXPORT_CAPTION = "{branch} {period}台账，共 {count} 项活动。"
EXPORT_SENT_PRIVATELY = "台账含党员个人信息，已私信发给您。"
EXPORT_START_PRIVATE_FIRST = "台账含党员个人信息，只能私信发送。请先私聊我发送 /start，再发送 /export。"
