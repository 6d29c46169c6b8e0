"""Chinese texts of the activity commands (/new, /record, /activities, /cancel, /done, /move).

Message texts are Telegram-HTML: values filled into ``{}`` are escaped by the caller. Refusal texts are also
shown as button alerts (plain text), so they carry no tags.
"""

from __future__ import annotations

from bot.models import ActivityKind, ActivityStatus
from bot.services.activities import Refusal

KIND_NAMES = "、".join(ActivityKind)

# -- access (the action names fill access.NEEDS_ROLE: 「{action}」需要由…操作) ---------------------------------------

ACTION_NEW = "发起活动"
ACTION_RECORD = "补录活动"
ACTION_LIST = "查看活动"
ACTION_CANCEL = "取消活动"
ACTION_DONE = "记录活动召开"
ACTION_MOVE = "调整活动时间"

# -- usage ----------------------------------------------------------------------------------------------------------

PREVIEW_WORD = "预览"
NEW_USAGE = (
    "发起活动有两种方式：\n"
    "• 发送 /new，按提示一步步填写；\n"
    "• 一行写完：/new 支委会 2026-12-03 15:00 会议室 学习二十届四中全会精神\n"
    "几种类型合开时用“+”连接，如 主题党日+党员大会+党课；党课请写上 讲课人：姓名。\n"
    "在 /new 后加“预览”只看通知、不发布。"
)
RECORD_USAGE = "补录已开过的会：/record 支委会 2026-11-03 15:00 会议室 主题\n还没开的会请用 /new 发起。"
CANCEL_USAGE = "请写上活动编号，例如 /cancel 12。发送 /activities 可查看编号。"
DONE_USAGE = "请写上活动编号，例如 /done 12 会议纪要……；只写编号时我会请您再发送纪要。"
MOVE_USAGE = "请写上活动编号和新时间，例如 /move 12 明天下午3点。"

# -- refusals (plain text, no tags) ---------------------------------------------------------------------------------

REFUSALS: dict[Refusal, str] = {
    Refusal.USAGE: NEW_USAGE,
    Refusal.UNKNOWN_KIND: "没有「{kind}」这种活动类型。可选的类型：" + KIND_NAMES + "。",
    Refusal.MISSING_PLACE: "请写上地点和主题，例如：/new 支委会 明天下午3点 会议室 学习党章。",
    Refusal.MISSING_TOPIC: "请写上活动主题，例如：/new 支委会 明天下午3点 会议室 学习党章。",
    Refusal.PLACE_TOO_LONG: "地点太长了，请控制在 {limit} 字以内。",
    Refusal.TOPIC_TOO_LONG: "主题太长了，请控制在 {limit} 字以内，详细内容可以会后写进纪要。",
    Refusal.LECTURER_TOO_LONG: "讲课人姓名太长了，请控制在 {limit} 字以内。",
    Refusal.IN_PAST: (
        "这个时间已经过去了。如需补录已开过的会，请用 /record，例如：/record 支委会 2026-11-03 15:00 会议室 主题"
    ),
    Refusal.NOT_YET_HELD: "补录只用于已经开过的会。还没开的会请用 /new 发起。",
    Refusal.KIND_NOT_ALLOWED: "党小组长只能安排本党小组的党小组会。其他活动请联系书记或组织委员。",
    Refusal.NO_OWN_PARTY_GROUP: "您还没有分到党小组，暂时不能发起党小组会。请联系书记或组织委员设置。",
    Refusal.NOT_OWN_PARTY_GROUP: "党小组长只能安排本党小组的党小组会。",
    Refusal.PARTY_GROUP_NEEDED: "请注明是哪个党小组：在主题后写“党小组：名称”。本支部的党小组：{groups}。",
    Refusal.UNKNOWN_PARTY_GROUP: "本支部没有「{name}」这个党小组。本支部的党小组：{groups}。",
    Refusal.NO_SUCH_ACTIVITY: "没有找到编号为 {id} 的活动。发送 /activities 可查看本支部的活动和编号。",
    Refusal.ALREADY_CANCELLED: "这次活动已经取消了。",
    Refusal.ALREADY_HELD: "这次活动已经召开，不能再取消或改时间。",
    Refusal.NOT_STARTED: "活动还没开始，开始后才能标记为已召开。",
}

# -- the announcement -----------------------------------------------------------------------------------------------

ANNOUNCEMENT_TITLE = "<b>【{kind}】活动通知</b>"
CANCELLED_TITLE = "<b>【已取消】{kind}</b>"
ALSO_COUNTS = "（同时作为：{kinds}）"
WHEN_LINE = "时间：{when}"
PLACE_LINE = "地点：{place}"
TOPIC_LINE = "主题：{topic}"
LECTURER_LINE = "讲课人：{lecturer}"
PARTY_GROUP_LINE = "党小组：{group}"
ANNOUNCEMENT_FOOTER = "请准时参加。到场后请点「签到」；因故不能参加请点「请假」并说明原因。"
CANCELLED_FOOTER = "本次活动已取消，请相互转告。"
CHECKIN_BUTTON = "✅ 签到"
LEAVE_BUTTON = "📝 请假"

# -- replies after a change -----------------------------------------------------------------------------------------

MANAGE_HINT = "会后记录：/done {id} 纪要；改时间：/move {id} 新时间；取消：/cancel {id}"
CREATED_IN_GROUP = "已发布（编号 {id}）。\n" + MANAGE_HINT
CREATED_POSTED = "已创建活动（编号 {id}），通知已发到支部群：\n\n{announcement}\n\n" + MANAGE_HINT
CREATED_NO_GROUP = (
    "已创建活动（编号 {id}）。本支部还没有绑定群，通知没有发出，请把下面的通知转发给大家：\n\n{announcement}\n\n"
    + MANAGE_HINT
)
CREATED_NOT_POSTED = (
    "已创建活动（编号 {id}），但通知没能发到支部群（请检查我是否还在群里）。请把下面的通知转发给大家：\n\n"
    "{announcement}\n\n" + MANAGE_HINT
)
PREVIEW = "预览（没有创建任何内容）：\n\n{announcement}\n\n确认无误后，去掉“预览”再发送一次即可发布。"
RECORDED = "已补录（编号 {id}）：{kinds}，{when}，{place}，{topic}。\n可以用 /done {id} 纪要 补充会议纪要。"
CANCELLED = "已取消活动 {id}：{kinds}（{when}）。"
MOVED = "活动 {id} 已改到 {when}。"
GROUP_NOTE_UPDATED = "群里的通知已同步更新。"
GROUP_NOTE_NOT_UPDATED = "群里的通知没能更新（可能已被删除），请在群里告知大家。"
CANCELLED_NOTICE = "【活动取消】{kinds}（原定 {when}）已取消。"
MOVED_NOTICE = "【时间调整】{kinds}改到 {when}，地点：{place}。"

# -- /done ----------------------------------------------------------------------------------------------------------

ASK_MINUTES = (
    "请发送活动 {id}（{kinds}，{when}）的会议纪要：直接发文字，或发送 .docx、.pdf、.txt 文件。发送 /cancel 放弃。"
)
MINUTES_FILE_TYPES = (".docx", ".pdf", ".txt")
WRONG_MINUTES_FILE = "请发送 .docx、.pdf 或 .txt 文件，或者直接发送文字纪要。发送 /cancel 放弃。"
MARKED_HELD = "已将活动 {id}（{kinds}）标记为已召开，纪要已保存（{chars} 字）。"
MARKED_HELD_FILE = "已将活动 {id}（{kinds}）标记为已召开，纪要文件「{name}」已保存。"

# -- /activities ----------------------------------------------------------------------------------------------------

LIST_TITLE = "<b>{branch} · 活动</b>"
LIST_UPCOMING = "<b>即将开始</b>"
LIST_RECENT = "<b>最近的活动</b>"
LIST_NONE_UPCOMING = "暂无安排。"
LIST_EMPTY = "本支部还没有活动。书记、副书记、组织委员可以用 /new 发起。"
LIST_LINE = "#{id} {kinds} · {when} · {place} · {topic} · {status}"
LIST_RECORDED = "（补录）"
STATUS_NAMES = {
    ActivityStatus.PLANNED: "计划中",
    ActivityStatus.HELD: "已召开",
    ActivityStatus.CANCELLED: "已取消",
}

# -- the guided /new flow -------------------------------------------------------------------------------------------

ASK_KIND = "请选择活动类型："
ONLY_KIND = "您是党小组长，将安排本党小组的党小组会。"
ASK_ALSO = "类型：{kind}。\n这次活动是否同时作为其他类型（可多选）？选好后点「下一步」。"
ALSO_CHOSEN = "类型：{kinds}"
NEXT_BUTTON = "下一步 ➡️"
ASK_DATE = "请发送日期，例如 2026-12-03、12月3日、下周三，或点下面的按钮："
DATE_BUTTONS = ("今天", "明天", "后天")
DATE_CHOSEN = "日期：{date}"
ASK_TIME = "请发送开始时间，例如 15:00 或 下午3点："
ASK_PLACE = "请发送地点（{limit} 字以内）："
ASK_TOPIC = "请发送主题（{limit} 字以内）："
ASK_LECTURER = "请发送讲课人姓名（书记讲课可直接发送“书记”）："
ASK_PARTY_GROUP = "请选择党小组："
PARTY_GROUP_CHOSEN = "党小组：{group}"
CONFIRM = "请确认，下面的通知将发布到支部群：\n\n{announcement}"
CONFIRM_NO_GROUP = "请确认（本支部还没有绑定群，确认后由您转发通知）：\n\n{announcement}"
CONFIRM_BUTTON = "确认发布"
ABORT_BUTTON = "取消"
ABORTED = "已取消，没有创建任何活动。"
FLOW_LEFT = "好的，已退出，没有保存任何内容。"
FLOW_RESTART = "请重新发送 /new 发起。"
STALE_FLOW_BUTTON = "这个按钮已失效。如需发起活动，请重新发送 /new。"
