"""Chinese texts of /themeday, /remind, /reminders and the 稍后提醒 button (Telegram HTML unless marked plain)."""

from __future__ import annotations

# -- /themeday ----------------------------------------------------------------------------------------------------

THEMEDAY_VIEW_ACTION = "查看主题党日"
THEMEDAY_SET_ACTION = "设置主题党日"
THEMEDAY_NONE = (
    "本支部还没有设置主题党日。\n书记或组织委员可以这样设置：\n"
    "<code>/themeday 每月第一个周五</code>\n<code>/themeday 每月15日 提前</code>\n"
    "<code>/themeday 每月最后一个工作日</code>"
)
THEMEDAY_CURRENT = "本支部的主题党日：<b>{rule}</b>\n\n接下来三次：\n{days}"
THEMEDAY_SET = "已设置主题党日：<b>{rule}</b>\n\n接下来三次：\n{days}\n\n党员会在前3天和前1天收到提醒。"
THEMEDAY_CLEARED = "已取消本支部的主题党日规则，不再发送主题党日提醒。"
THEMEDAY_DAY = "• {day}"
THEMEDAY_MOVED = "• {day}（{reason}）"
THEMEDAY_CALENDAR_UNKNOWN = "注：{years}年的法定节假日安排尚未收录，暂按周一至周五为工作日推算，公布后以实际安排为准。"
THEMEDAY_HINT = "\n\n修改请发送 <code>/themeday 新规则</code>，取消请发送 <code>/themeday 取消</code>。"
THEMEDAY_CLEAR_WORDS = frozenset({"取消", "关闭", "清除", "删除", "off"})
YEAR_SEPARATOR = "、"

# -- /remind ------------------------------------------------------------------------------------------------------

REMIND_ACTION = "设置提醒"
REMIND_ON_WORDS = frozenset({"on", "开", "开启", "打开"})
REMIND_OFF_WORDS = frozenset({"off", "关", "关闭"})
REMIND_STATUS_ON = "您的活动提醒目前是<b>开启</b>的。"
REMIND_STATUS_OFF = "您的活动提醒目前是<b>关闭</b>的。"
REMIND_USAGE = "\n发送 <code>/remind off</code> 关闭，<code>/remind on</code> 开启。"
REMIND_TURNED_ON = "已开启活动提醒：活动前一天、开始前1小时等提醒会照常发给您。"
REMIND_TURNED_OFF = (
    "已关闭活动提醒，不再给您发送活动、主题党日和补学提醒。需要时发送 <code>/remind on</code> 重新开启。"
)
REMIND_OFFICER_NOTE = "\n作为{role}，组织生活的截止提醒和每周工作提示仍会照常发给您。"

# -- /reminders ---------------------------------------------------------------------------------------------------

REMINDERS_ACTION = "查看提醒"
REMINDERS_PRIVATE_ONLY = "提醒列表含有党员个人信息，请私聊我发送 /reminders 查看。"
REMINDERS_TITLE = "🔔 提醒概况（{branch}）"
REMINDERS_COUNTS = "待发送 {pending} · 已发送 {sent} · 发送失败 {failed} · 已错过 {missed}"
REMINDERS_SECTION = "{title}（最近 {count} 条）："
REMINDERS_LINE = "• {when} {kind} → {recipient}"
REMINDERS_ERROR = "（{error}）"
REMINDERS_NONE = "目前还没有任何提醒。"
REMINDERS_GROUP = "本支部群"
STATUS_TITLES = {"pending": "待发送", "sent": "已发送", "failed": "发送失败", "missed": "已错过"}
KIND_LABELS = {
    "activity_day_before": "活动前一天提醒",
    "activity_hour_before": "活动前1小时提醒",
    "activity_checkin": "签到提醒",
    "activity_follow_up": "会后补记提醒",
    "deadline": "截止提醒",
    "theme_day_soon": "主题党日预告",
    "theme_day_missed": "主题党日未开展提醒",
    "makeup": "补学提醒",
    "absence": "谈心谈话提醒",
    "digest": "每周工作提示",
    "snooze": "稍后提醒",
    "notice_unreachable": "无法送达通知",
    "notice_missed": "错过提醒通知",
}
KIND_OTHER = "其他提醒"

# -- 稍后提醒 (callback-query notes: plain text, at most 200 characters) ---------------------------------------------

SNOOZED = "好的，{when} 再提醒您。"
SNOOZE_ALREADY = "这条提醒已经设置过稍后提醒了。"
SNOOZE_TOO_LATE = "一小时后这条提醒就过时了，不再稍后提醒。"
SNOOZE_NOT_FOUND = "这个按钮已失效。"
