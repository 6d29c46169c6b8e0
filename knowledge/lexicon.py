"""The domain vocabulary: canonical terms with their colloquial forms, typos, stopwords and ambiguous phrases.

Every alias is added to jieba's dictionary and mapped to its canonical term, so "支部大会", "党员会" and
"黨員大會" all become one token. Terms hold no punctuation (jieba splits user words at punctuation).
"""

from __future__ import annotations

# canonical term -> aliases (domain-facts §13, plus frequency words folded to one form)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "三会一课": ("三会一课制度", "三会一课要求"),
    "支部": ("党支部", "基层党支部"),
    "党员": ("党员同志", "共产党员"),
    "入党": ("加入党组织", "申请入党"),
    "发展党员": ("发展新党员", "吸收党员"),
    "党委": ("基层党委", "党委会"),
    "党龄": ("党龄计算",),
    "党纪": ("党的纪律",),
    "委员会": ("支部委员会成员",),
    "副书记": ("支部副书记", "党支部副书记"),
    "支部党员大会": (
        "党员大会",
        "支部大会",
        "党支部党员大会",
        "全体党员大会",
        "支部党员会",
        "党员会",
        "党员会议",
        "党员大会会议",
        "支部党员大会会议",
    ),
    "支委会": (
        "支部委员会会议",
        "支委会议",
        "党支部委员会会议",
        "支委员会",
        "委员会会议",
        "支部委员会",
        "党支部委员会",
        "支委会会议",
        "支委",
    ),
    "党小组会": ("党小组会议", "小组会", "小组会议", "党小组学习", "党小组活动"),
    "党小组": ("小组",),
    "党小组长": ("党小组组长", "小组长"),
    "党课": ("上党课", "讲党课", "微党课", "专题党课", "党课教育"),
    "书记讲党课": ("书记上党课", "书记党课"),
    "主题党日": (
        "支部主题党日",
        "党日",
        "党日活动",
        "主题党日活动",
        "党员活动日",
        "支部活动日",
        "组织生活日",
        "固定党日",
        "主题党日制度",
    ),
    "组织生活会": ("组织生活会议", "专题组织生活会", "年度组织生活会", "组织生活会制度"),
    "民主生活会": ("领导班子民主生活会",),
    "组织生活": ("过组织生活", "参加组织生活"),
    "民主评议党员": ("民主评议", "党员评议", "评议党员", "党员民主评议", "民主评议党员工作"),
    "民主测评": ("测评",),
    "谈心谈话": ("谈心", "谈话", "谈心交流", "一对一谈话", "谈心谈话制度"),
    "党费": (
        "交党费",
        "缴党费",
        "缴纳党费",
        "交纳党费",
        "党费标准",
        "党费基数",
        "党费比例",
        "补交党费",
        "预交党费",
        "代交党费",
        "党费收缴",
    ),
    "自行脱党": ("自动脱党", "脱党"),
    "入党申请人": ("申请人", "递交入党申请书", "入党申请书", "入党申请"),
    "入党积极分子": ("积极分子", "推优", "团员推优"),
    "发展对象": ("重点发展对象",),
    "预备党员": ("预备期党员",),
    "转正": ("预备党员转正", "按期转正", "转为正式党员"),
    "正式党员": ("正式的党员",),
    "入党介绍人": ("介绍人",),
    "培养联系人": ("培养人", "联系人"),
    "政治审查": ("政审", "函调", "外调"),
    "换届选举": ("换届", "改选", "增补委员", "补选", "差额选举", "选举"),
    "支部书记": ("党支部书记", "支书"),
    "两学一做": ("学党章党规学系列讲话做合格党员",),
    "不忘初心牢记使命": ("不忘初心", "牢记使命", "初心使命"),
    "主题教育": ("主题教育活动",),
    "第一议题": ("第一议题制度",),
    "双重组织生活": ("双重组织生活会",),
    "会议记录": ("记录本", "会议纪要", "会议记录本", "记录"),
    "台账": ("党建台账", "工作纪实", "支部工作手册", "工作手册"),
    "签到表": ("签到", "签到簿"),
    "请假": ("请假条", "请个假", "告假"),
    "缺席": ("缺会", "没参加", "没去", "不参加", "没来"),
    "补学": ("补课", "补学补课"),
    "表决权": ("投票权", "表决资格"),
    "选举权": ("投票选举权",),
    "过半": ("半数以上", "超过半数", "一半以上", "过半数", "半数"),
    "五分之四": ("4/5", "百分之八十", "80%"),
    "支部工作条例": ("支部条例", "党支部工作条例", "中国共产党支部工作条例"),
    "发展党员工作细则": ("发展党员细则", "入党流程", "入党程序", "发展党员流程", "发展党员程序"),
    "党员教育管理工作条例": ("党员教育条例", "党员教育管理条例"),
    "每季度": ("每季", "一季度", "一个季度", "每三个月", "每个季度", "季度"),
    "每月": ("每个月", "一个月", "月度"),
    "每年": ("每年度", "年度", "全年"),
    "联合党支部": ("联合支部",),
    "党总支": ("总支", "党总支部", "总支部"),
    "离退休党员": ("退休党员", "离休党员", "老党员"),
    "学生党员": ("大学生党员",),
    "农民党员": ("农村党员",),
}

# typos that pinyin matching cannot reach (visual look-alikes) or that are too short to match safely
TYPOS: dict[str, str] = {
    "党曰": "党日",
    "当课": "党课",
    "党废": "党费",
    "支布": "支部",
    "脱当": "脱党",
    "党圆": "党员",
    "当员": "党员",
    "知部": "支部",
}

# single words a question adds nothing with
STOPWORDS: frozenset[str] = frozenset(
    "的 了 吗 呢 啊 吧 呀 哦 嘛 么 是 在 和 与 及 或 就 都 也 还 又 再 这 那 这个 那个 这样 "
    "我 我们 你 你们 他 她 它 咱们 咱 请问 请 问 一下 想 想问 知道 告诉 谢谢 您好 你好 老师 "
    "有没有 是不是 能不能 可不可以 可以 能 应该 需要 得 着 过 个 把 被 让 给 "
    "对 从 向 为 为了 关于 一个 什么样 么样 啥 为啥 到底 具体 大概 一般 主要 通常 平时 那天 时候 以后 之后 还要 有个 "
    "这么 那么 指 来 下 上 但 完 全部 一块 一起 同志 咱们 我们支部 单位 那种 这种 情况 事情 事 请教 一定".split()
)

# phrases that name two different things; the answer covers each reading
AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "党支部委员会大会": ("支委会", "支部党员大会"),
    "支部委员会大会": ("支委会", "支部党员大会"),
    "支委大会": ("支委会", "支部党员大会"),
}

PINYIN_MIN_CHARS = 3  # shorter terms collide with everyday words by sound ("支部" ~ "知不")
PINYIN_MAX_CHARS = 6  # longer terms are rarely mistyped whole; bounding the window keeps repair fast


def all_terms() -> set[str]:
    """Every word to teach jieba: canonical terms, aliases, typo targets and ambiguous phrases."""
    terms = set(SYNONYMS) | set(TYPOS.values()) | set(AMBIGUOUS)
    for aliases in SYNONYMS.values():
        terms.update(aliases)
    return {t for t in terms if t.isalnum()}


def canonical_map() -> dict[str, str]:
    mapping = {canonical: canonical for canonical in SYNONYMS}
    for canonical, aliases in SYNONYMS.items():
        for alias in aliases:
            mapping[alias] = canonical
    return mapping
