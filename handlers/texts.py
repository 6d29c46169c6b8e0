"""Every user-facing Chinese text of the bot, in one reviewed place.

Message texts are Telegram-HTML (the bot's default parse mode): a literal ``<``, ``>`` or ``&`` must be written as
``&lt;``, ``&gt;``, ``&amp;``; values filled into ``{}`` are escaped by the caller. Texts for callback-query
notes, command descriptions and the console are plain text.
"""

from __future__ import annotations

# -- /start and /help ---------------------------------------------------------------------------------------------

WELCOME = (
    "您好，我是<b>党支部助手</b>。\n\n"
    "我可以解答党支部工作的常见问题：“三会一课”、主题党日、组织生活会、民主评议党员等怎么开、多久开一次、"
    "有什么要求。每个回答都注明出处；没有把握时，我会直说没有找到可靠的答案，不会凭空编造。\n\n"
    "• 私聊：直接发送问题\n"
    "• 群聊：@我 或回复我的消息，也可以用 /ask 问题\n\n"
    "发送 /help 查看全部命令。"
)
JOIN_NOT_READY = "通过邀请链接加入支部的功能还在准备中，暂时无法加入。请先联系支部书记，或直接向我提问。"
HELP = (
    "<b>可用命令</b>\n"
    "/ask 问题 — 提问（私聊、群聊均可）\n"
    "/help — 查看本帮助\n"
    "/start — 开始使用\n\n"
    "私聊时直接发送问题即可；在群里请 @我 或回复我的消息。\n"
    "示例：<code>/ask 党员大会多久开一次</code>"
)
UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看可用命令，或直接发送您的问题。"

# The command menu (setMyCommands): (command, description), descriptions are plain text.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("ask", "提问，例如：/ask 党员大会多久开一次"),
    ("help", "查看帮助"),
    ("start", "开始使用"),
)

# -- questions and answers ----------------------------------------------------------------------------------------

ASK_USAGE = "请在 /ask 后面写上问题，例如：\n<code>/ask 党员大会多久开一次</code>"
MENTION_USAGE = "请在 @{username} 后面写上问题，例如：\n<code>@{username} 支委会多久开一次</code>"
EMPTY_QUESTION = "请用文字发送您的问题，例如：党员大会多久开一次"
QUESTION_TOO_LONG = "问题太长了，请控制在 {limit} 字以内，简要说明您想了解什么。"

SOURCE_LINE = "<i>来源：《{title}》{section}</i>"
RELATED_HINT = "相关问题："
UNTITLED_TOPIC = "相关主题"  # button label for a passage without a heading
NOT_FOUND = "抱歉，没有找到可靠的答案。为免误导，我不凭空作答。"
NOT_FOUND_NEAREST = "您可以换个说法再问，或看看下面这些相近的主题："
NOT_FOUND_NOTHING_NEAR = "您可以换个说法再问，或向支部书记、上级党组织咨询。"

# Callback-query notes (plain text, at most 200 characters).
STALE_BUTTON = "这个按钮已失效，请重新提问。"

# -- errors -------------------------------------------------------------------------------------------------------

SORRY = "抱歉，处理您的消息时出了点问题，请稍后再试。"

# -- console mode (`partybot chat`, plain text) -------------------------------------------------------------------

CONSOLE_BANNER = (
    "党支部助手 · 本地对话模式（不连接 Telegram）\n输入问题后回车；输入按钮前的编号即点击该按钮；输入 /quit 退出。"
)
CONSOLE_TOAST = "（提示）{text}"
CONSOLE_BYE = "再见！"
