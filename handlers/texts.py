"""Every user-facing Chinese text of the bot, in one reviewed place.

Message texts are Telegram-HTML (the bot's default parse mode): a literal ``<``, ``>`` or ``&`` must be written as
``&lt;``, ``&gt;``, ``&amp;``; values filled into ``{}`` are escaped by the caller. Texts for callback-query
notes, command descriptions and the console are plain text.
"""

from __future__ import annotations

# -- /start and /help ---------------------------------------------------------------------------------------------

WELCOME = (
    "您好，我是<b>党支部助手</b>。\n\n"
    "• 解答党支部工作的常见问题：“三会一课”、主题党日、组织生活会、民主评议、党费等怎么开、多久开一次、"
    "有什么要求。每个回答都注明出处；没有把握时，我会直说没有找到可靠的答案，不会凭空编造。\n"
    "• 帮支部安排活动、签到请假、查看“三会一课”进度、导出台账，并在截止日前自动提醒。\n\n"
    "私聊直接发送问题即可；在群里请 @我 或回复我的消息，也可以用 /ask 问题。\n"
    "支部书记：把我拉进支部的群，在群里发送 /setup 支部名称 开始。\n"
    "发送 /help 查看全部命令。"
)
HELP = (
    "<b>提问</b>\n"
    "/ask 问题 — 提问（私聊时直接发送问题即可）\n\n"
    "<b>党员</b>\n"
    "/activities — 近期活动\n"
    "/checkin [签到码] — 签到\n"
    "/leave — 请假\n"
    "/members — 支部名册\n"
    "/progress — “三会一课”完成进度\n"
    "/remind on|off — 开启或关闭提醒\n\n"
    "<b>书记、副书记、组织委员</b>\n"
    "/setup 支部名称 — 在群里创建支部（群管理员）\n"
    "/invite — 生成入支部邀请链接；/invite revoke — 作废全部邀请链接\n"
    "/new — 安排活动，例如 <code>/new 支委会 明天下午3点 会议室 学习</code>\n"
    "/record — 补录已开过的活动\n"
    "/cancel 编号、/move 编号 新时间、/done 编号 纪要 — 取消、改期、记为已召开\n"
    "/code 编号 — 生成签到码\n"
    "/proxy 编号 姓名 — 代签或补登请假\n"
    "/attendance 编号 — 到会情况和是否达到法定人数\n"
    "/export [2026Q4] — 导出台账\n"
    "/setrole 姓名 职务、/group — 设置职务、党小组（书记）\n"
    "/import — 导入党员名册（书记，私聊发送 .csv/.xlsx）\n"
    "/claimcode 姓名 — 为名册中的支委生成一次性认领链接（书记，私聊）\n"
    "/remove 姓名、/restore 姓名 — 移出党员（记录保留）、恢复（书记）\n"
    "/require — 查看或提高本支部的要求次数\n"
    "/themeday — 设置主题党日\n"
    "/reminders — 提醒发送情况\n"
    "/kb — 上传本支部的制度文件（私聊）\n\n"
    "示例：<code>/ask 党员大会多久开一次</code>"
)
UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看可用命令，或直接发送您的问题。"

# The command menu (setMyCommands): (command, description), descriptions are plain text.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("ask", "提问，例如：/ask 党员大会多久开一次"),
    ("activities", "近期活动"),
    ("checkin", "签到"),
    ("leave", "请假"),
    ("progress", "“三会一课”完成进度"),
    ("members", "支部名册"),
    ("new", "安排活动（书记、组织委员）"),
    ("attendance", "到会情况（书记、组织委员）"),
    ("export", "导出台账（书记、组织委员）"),
    ("invite", "邀请党员加入（书记、组织委员）"),
    ("remind", "开启或关闭提醒"),
    ("help", "查看全部命令"),
    ("start", "开始使用"),
)

# -- questions and answers ----------------------------------------------------------------------------------------

ASK_USAGE = "请在 /ask 后面写上问题，例如：\n<code>/ask 党员大会多久开一次</code>"
MENTION_USAGE = "请在 @{username} 后面写上问题，例如：\n<code>@{username} 支委会多久开一次</code>"
EMPTY_QUESTION = "请用文字发送您的问题，例如：党员大会多久开一次"
QUESTION_TOO_LONG = "问题太长了，请控制在 {limit} 字以内，简要说明您想了解什么。"

SOURCE_LINE = "<i>来源：{title}{section}</i>"
RELATED_HINT = "相关问题："
UNTITLED_TOPIC = "相关主题"  # button label for a passage without a heading
NOT_FOUND = "抱歉，没有找到可靠的答案。为免误导，我不凭空作答。"
NOT_FOUND_NEAREST = "您可以换个说法再问，或看看下面这些相近的主题："
NOT_FOUND_NOTHING_NEAR = "您可以换个说法再问，或向支部书记、上级党组织咨询。"
WRITING_NEAREST = "下面这些相关规定也许用得上："

# Callback-query notes (plain text, at most 200 characters).
STALE_BUTTON = "这个按钮已失效，请重新提问。"

# -- errors -------------------------------------------------------------------------------------------------------

SORRY = "抱歉，处理您的消息时出了点问题，请稍后再试。"
# Said once per burst to someone (or a group) sending faster than the bot answers; the rest is ignored quietly.
TRY_LATER = "消息有点多，请稍后再试。"

# -- console mode (`partybot chat`, plain text) -------------------------------------------------------------------

CONSOLE_BANNER = (
    "党支部助手 · 本地对话模式（不连接 Telegram）\n输入问题后回车；输入按钮前的编号即点击该按钮；输入 /quit 退出。"
)
CONSOLE_TOAST = "（提示）{text}"
CONSOLE_BYE = "再见！"
