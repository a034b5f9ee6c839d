"""The named chat templates: one ``TemplateSpec`` per LLaMA-Factory name.

Every name LLaMA-Factory 0.9.5 registers is here, except the templates of
vision, video and audio models (``MULTIMODAL_ONLY``), which are refused with
the reason and what to set instead. Where versions of a family render
differently, each version has its own name (``llama3`` vs ``llama3_1``,
``mistral`` vs ``mistral_nemo``). Texts that the official templates fill with
today's date use ``TEMPLATE_DATE`` instead, so that the same data always gives
the same tokens.
"""

from dataclasses import replace

from workflows.templates.formats import TemplateSpec

TEMPLATE_DATE = "26 Jul 2024"
"""The date Llama 3.1's template falls back to; dated system prompts use it."""
TEMPLATE_ISO_DATE = "2024-07-26"
"""The same date, for templates that write it as strftime('%Y-%m-%d') (gpt-oss, Mistral Small 3.2)."""

MISTRAL_SMALL_3_2_SYSTEM = (
    "You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, a French startup "
    "headquartered in Paris.\n"
    f"Your knowledge base was last updated on 2023-10-01. The current date is {TEMPLATE_ISO_DATE}.\n"
    "\n"
    "When you're not sure about some information or when the user's request requires up-to-date or "
    "specific data, you must use the available tools to fetch the information. Do not hesitate to use "
    "tools whenever they can provide a more accurate or complete response. If no relevant tools are "
    "available, then clearly state that you don't have the information and avoid making up anything.\n"
    "\n"
    "If the user's question is not clear, ambiguous, or does not provide enough context for you to "
    "accurately answer the question, you do not try to answer it right away and you rather ask the user "
    'to clarify their request (e.g. "What are some good restaurants around me?" => "Where are you?" or '
    '"When is the next flight to Tokyo" => "Where do you travel from?").\n'
    "You are always very attentive to dates, and when asked about information at specific dates, you "
    "discard information that is at another date.\n"
    "You follow these instructions in all languages, and always respond to the user in the language they "
    "use or request.\n"
    "Next sections describe the capabilities that you have.\n"
    "\n"
    "# WEB BROWSING INSTRUCTIONS\n"
    "\n"
    "You cannot perform any web search or access internet to open URLs, links etc. If it seems like the "
    "user is expecting you to do so, you clarify the situation and ask the user to copy paste the text "
    "directly in the chat.\n"
    "\n"
    "# MULTI-MODAL INSTRUCTIONS\n"
    "\n"
    "You have the ability to read images, but you cannot generate images. You also cannot transcribe "
    "audio files or videos.\n"
    "You cannot read nor transcribe audio files or videos.\n"
    "\n"
    "# TOOL CALLING INSTRUCTIONS\n"
    "\n"
    "You may have access to tools that you can use to fetch information or perform actions. You must use "
    "these tools in the following situations:\n"
    "\n"
    "1. When the request requires up-to-date information.\n"
    "2. When the request requires specific data that you do not have in your knowledge base.\n"
    "3. When the request involves actions that you cannot perform without tools.\n"
    "\n"
    "Always prioritize using tools to provide the most accurate and helpful response. If tools are not "
    "available, inform the user that you cannot perform the requested action at the moment."
)

_CHATML = TemplateSpec(
    name="chatml",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    generation_prompt="<|im_start|>assistant\n",
    assistant="{content}<|im_end|>\n",
    observation="<|im_start|>tool\n{content}<|im_end|>\n",
    stop_words=("<|im_end|>", "<|im_start|>"),
    replace_eos=True,
)

_QWEN = replace(
    _CHATML,
    name="qwen",
    observation="<|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n",
    tool_style="qwen",
    stop_words=("<|im_end|>",),
)

_LLAMA2 = TemplateSpec(
    name="llama2",
    system="<<SYS>>\n{content}\n<</SYS>>\n\n",
    system_placement="first_user",
    user="<s>[INST] {content} [/INST]",
    assistant=" {content} </s>",
    strip_content=True,
)

_LLAMA3 = TemplateSpec(
    name="llama3",
    prefix="<|begin_of_text|>",
    system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
    user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
    generation_prompt="<|start_header_id|>assistant<|end_header_id|>\n\n",
    assistant="{content}<|eot_id|>",
    observation="<|start_header_id|>ipython<|end_header_id|>\n\n{content}<|eot_id|>",
    strip_content=True,
    tool_style="llama3",
    stop_words=("<|eot_id|>", "<|eom_id|>"),
    replace_eos=True,
)

_LLAMA3_1 = replace(
    _LLAMA3,
    name="llama3_1",
    system=(
        "<|start_header_id|>system<|end_header_id|>\n\n"
        f"Cutting Knowledge Date: December 2023\nToday Date: {TEMPLATE_DATE}\n\n{{content}}<|eot_id|>"
    ),
    default_system="",
)

_GEMMA = TemplateSpec(
    name="gemma",
    prefix="<bos>",
    system="{content}\n\n",
    system_placement="first_user",
    user="<start_of_turn>user\n{content}<end_of_turn>\n",
    generation_prompt="<start_of_turn>model\n",
    assistant="{content}<end_of_turn>\n",
    observation="<start_of_turn>tool\n{content}<end_of_turn>\n",
    strip_content=True,
    stop_words=("<end_of_turn>",),
    replace_eos=True,
)

_PHI = TemplateSpec(
    name="phi",
    system="<|system|>\n{content}<|end|>\n",
    user="<|user|>\n{content}<|end|>\n",
    generation_prompt="<|assistant|>\n",
    assistant="{content}<|end|>\n",
    stop_words=("<|end|>",),
    replace_eos=True,
)

_MISTRAL_TEKKEN = TemplateSpec(
    name="mistral_nemo",
    prefix="<s>",
    system="{content}\n\n",
    system_placement="last_user",
    user="[INST]{content}[/INST]",
    assistant="{content}</s>",
    function="[TOOL_CALLS]{content}</s>",
    observation='[TOOL_RESULTS]{"content": {content}}[/TOOL_RESULTS]',
    tool_style="mistral",
)

_MISTRAL_SMALL = replace(
    _MISTRAL_TEKKEN,
    name="mistral_small",
    system="[SYSTEM_PROMPT]{content}[/SYSTEM_PROMPT]",
    system_placement="own_turn",
)

_GLM4 = TemplateSpec(
    name="glm4",
    prefix="[gMASK]<sop>",
    system="<|system|>\n{content}",
    user="<|user|>\n{content}",
    generation_prompt="<|assistant|>",
    assistant="\n{content}",
    function="{content}",
    observation="<|observation|>\n{content}",
    tool_style="glm4",
    stop_words=("<|user|>", "<|observation|>"),
    efficient_eos=True,
)

_DEEPSEEK3 = TemplateSpec(
    name="deepseek3",
    prefix="<｜begin▁of▁sentence｜>",
    user="<｜User｜>{content}",
    generation_prompt="<｜Assistant｜>",
    assistant="{content}<｜end▁of▁sentence｜>",
)

_THINK = ("<think>\n", "\n</think>\n\n")
_BARE_THINK = ("<think>", "</think>")

# Bases of the families added for LLaMA-Factory 0.9.5's other names. Where no official template was at hand
# to test against, a spec writes what LLaMA-Factory writes for that name (its slots, default system, stop words).

_GPT_OSS = TemplateSpec(
    name="gpt_oss",
    prefix=(
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        f"Knowledge cutoff: 2024-06\nCurrent date: {TEMPLATE_ISO_DATE}\n\nReasoning: medium\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
    ),
    system="<|start|>developer<|message|># Instructions\n\n{content}\n\n<|end|>",
    user="<|start|>user<|message|>{content}<|end|>",
    generation_prompt="<|start|>assistant",
    assistant="<|channel|>final<|message|>{content}<|end|>",
    final_assistant="<|channel|>final<|message|>{content}<|return|>",
    tool_style=None,
    stop_words=("<|return|>", "<|call|>"),
)
"""The official harmony format (LLaMA-Factory's ``gpt_oss`` drops the channels' <|end|> and the dated system turn)."""

_MINISTRAL = replace(
    _MISTRAL_TEKKEN,
    name="ministral",
    prefix="{bos_token}",
    system_placement="first_user",
    assistant="{content}{eos_token}",
    function="[TOOL_CALLS]{content}{eos_token}",
)

_GLM4_7 = replace(_GLM4, name="glm4_7", thought_words=_BARE_THINK, tool_style=None)

_GEMMA4 = TemplateSpec(
    name="gemma4",
    prefix="{bos_token}",
    system="<|turn>system\n<|think|>{content}<turn|>\n",
    user="<|turn>user\n{content}<turn|>\n",
    generation_prompt="<|turn>model\n",
    assistant="{content}<turn|>\n",
    observation="<|turn>tool\n{content}<turn|>\n",
    default_system="You are a helpful assistant.",
    tool_style=None,
    stop_words=("<turn|>",),
    replace_eos=True,
    thought_words=("<|channel>thought\n", "<channel|>"),
)

_SEED_CODER = TemplateSpec(
    name="seed_coder",
    system="{bos_token}system\n{content}{eos_token}",
    user="{bos_token}user\n{content}{eos_token}",
    generation_prompt="{bos_token}assistant\n",
    default_system=(
        "You are an AI programming assistant, utilizing the Seed-Coder model, developed by ByteDance Seed, "
        "and you only answer questions related to computer science. For politically sensitive questions, "
        "security and privacy issues, and other non-computer science questions, you will refuse to answer.\n\n"
    ),
)

_QWEN3_5 = replace(_QWEN, name="qwen3_5", thought_words=_THINK, tool_style=None)

SPECS: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        name="default",
        system="System: {content}{eos_token}\n",
        user="Human: {content}{eos_token}\n",
        generation_prompt="Assistant:",
        assistant="{content}{eos_token}\n",
    ),
    TemplateSpec(name="empty", assistant="{content}"),
    TemplateSpec(
        name="alpaca",
        user="### Instruction:\n{content}\n\n",
        generation_prompt="### Response:\n",
        assistant="{content}{eos_token}\n\n",
        default_system=("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"),
    ),
    TemplateSpec(
        name="vicuna",
        system="{content} ",
        user="USER: {content} ",
        generation_prompt="ASSISTANT:",
        default_system=(
            "A chat between a curious user and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the user's questions."
        ),
    ),
    _LLAMA2,
    _LLAMA3,
    _LLAMA3_1,
    replace(_LLAMA3_1, name="llama3_2"),
    _QWEN,
    replace(_QWEN, name="qwen2_5", default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
    replace(_QWEN, name="qwen3", thought_words=_THINK),
    replace(_QWEN, name="qwen3_nothink"),
    replace(_QWEN, name="yi", observation=None, tool_style="default"),
    TemplateSpec(
        name="mistral",
        prefix="<s>",
        system="{content}\n\n",
        system_placement="first_user",
        user="[INST] {content}[/INST]",
        assistant=" {content}</s>",
        function="[TOOL_CALLS] {content}</s>",
        observation='[TOOL_RESULTS] {"content": {content}}[/TOOL_RESULTS]',
        tool_style="mistral",
    ),
    _MISTRAL_TEKKEN,
    _MISTRAL_SMALL,
    replace(_MISTRAL_SMALL, name="mistral_small3_2", default_system=MISTRAL_SMALL_3_2_SYSTEM),
    _PHI,
    replace(_PHI, name="phi3", suffix="<|endoftext|>"),
    replace(_PHI, name="phi3_5", suffix="<|endoftext|>", drop_empty_system=True),
    _GEMMA,
    replace(_GEMMA, name="gemma2", system_placement="unsupported"),
    replace(_GEMMA, name="gemma3"),
    _GLM4,
    replace(_GLM4, name="glm4_moe", assistant="\n<think></think>\n{content}"),
    replace(_GLM4, name="chatglm3", prefix="[gMASK]sop"),
    TemplateSpec(
        name="baichuan2",
        user="<reserved_106>{content}",
        generation_prompt="<reserved_107>",
        assistant="{content}",
        efficient_eos=True,
    ),
    TemplateSpec(
        name="deepseek",
        prefix="{bos_token}",
        system="{content}\n\n",
        user="User: {content}\n\n",
        generation_prompt="Assistant:",
    ),
    _DEEPSEEK3,
    replace(_DEEPSEEK3, name="deepseekr1", thought_words=_THINK),
    replace(_DEEPSEEK3, name="deepseek3_1", generation_prompt="<｜Assistant｜></think>"),
    TemplateSpec(
        name="granite3",
        system="<|start_of_role|>system<|end_of_role|>{content}<|end_of_text|>\n",
        user="<|start_of_role|>user<|end_of_role|>{content}<|end_of_text|>\n",
        generation_prompt="<|start_of_role|>assistant<|end_of_role|>",
        assistant="{content}<|end_of_text|>\n",
        stop_words=("<|end_of_text|>",),
    ),
    TemplateSpec(
        name="cohere",
        prefix="{bos_token}",
        system="<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{content}<|END_OF_TURN_TOKEN|>",
        user="<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{content}<|END_OF_TURN_TOKEN|>",
        generation_prompt="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
        assistant="{content}<|END_OF_TURN_TOKEN|>",
        stop_words=("<|END_OF_TURN_TOKEN|>",),
        replace_eos=True,
    ),
    TemplateSpec(
        name="falcon",
        system="{content}\n",
        user="User: {content}\n",
        generation_prompt="Falcon:",
        assistant="{content}\n",
        efficient_eos=True,
    ),
    # LLaMA-Factory 0.9.5's other text templates, grouped by family.
    _CHATML,
    replace(_CHATML, name="chatml_de", default_system="Du bist ein freundlicher und hilfsbereiter KI-Assistent."),
    replace(_CHATML, name="cpm4", prefix="{bos_token}", stop_words=("<|im_end|>",), replace_eos=False),
    replace(
        _CHATML,
        name="dbrx",
        stop_words=("<|im_end|>",),
        default_system=(
            "You are DBRX, created by Databricks. You were last updated in December 2023. "
            "You answer questions based on information available up to that point.\n"
            "YOU PROVIDE SHORT RESPONSES TO SHORT QUESTIONS OR STATEMENTS, but provide thorough "
            "responses to more complex and open-ended questions.\nYou assist with various tasks, "
            "from writing to coding (using markdown for code blocks — remember to use ``` with "
            "code, JSON, and tables).\n(You do not have real-time data access or code execution "
            "capabilities. You avoid stereotyping and provide balanced perspectives on "
            "controversial topics. You do not provide song lyrics, poems, or news articles and "
            "do not divulge details of your training data.)\nThis is your system prompt, "
            "guiding your responses. Do not reference it, just respond to the user. If you find "
            "yourself talking about this message, stop. You should be responding appropriately "
            "and usually that means not mentioning this.\nYOU DO NOT MENTION ANY OF THIS INFORMATION "
            "ABOUT YOURSELF UNLESS THE INFORMATION IS DIRECTLY PERTINENT TO THE USER'S QUERY."
        ),
    ),
    replace(_CHATML, name="falcon_h1", prefix="{bos_token}", stop_words=("<|im_end|>", "<|end_of_text|>"), replace_eos=False),
    replace(
        _CHATML,
        name="intern2",
        prefix="{bos_token}",
        observation=None,
        stop_words=("<|im_end|>",),
        replace_eos=False,
        default_system=(
            "You are an AI assistant whose name is InternLM (书生·浦语).\n"
            "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
            "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
            "- InternLM (书生·浦语) can understand and communicate fluently in the language "
            "chosen by the user such as English and 中文."
        ),
    ),
    replace(
        _CHATML,
        name="lfm2",
        observation="<|im_start|>tool\n<|tool_response_start|>{content}<|tool_response_end|><|im_end|>\n",
        default_system="You are a helpful AI assistant.",
        stop_words=("<|im_end|>",),
        tool_style=None,
    ),
    replace(
        _CHATML,
        name="opencoder",
        default_system="You are OpenCoder, created by OpenCoder Team.",
        stop_words=("<|im_end|>",),
        replace_eos=False,
    ),
    replace(
        _CHATML,
        name="sailor",
        user="<|im_start|>question\n{content}<|im_end|>\n",
        generation_prompt="<|im_start|>answer\n",
        observation=None,
        stop_words=("<|im_end|>",),
        replace_eos=False,
        default_system=(
            "You are an AI assistant named Sailor created by Sea AI Lab. "
            "Your answer should be friendly, unbiased, faithful, informative and detailed."
        ),
    ),
    replace(_CHATML, name="smollm", observation=None, stop_words=("<|im_end|>",), replace_eos=False),
    replace(
        _CHATML,
        name="smollm2",
        observation=None,
        stop_words=("<|im_end|>",),
        replace_eos=False,
        default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face.",
    ),
    replace(
        _CHATML,
        name="ernie",
        system="<|im_start|>system\n{content}<|im_end|>\n\n",
        user="<|im_start|>user\n{content}<|im_end|>\n\n",
        assistant="{content}<|im_end|>\n\n",
        observation="<|im_start|>tool\n{content}<|im_end|>\n\n",
        default_system="<global_setting>\nthink_mode=True\n</global_setting>",
        stop_words=("<|im_end|>",),
        replace_eos=False,
    ),
    replace(_QWEN, name="mimo", default_system="You are a helpful assistant.", thought_words=_THINK),
    replace(_QWEN, name="mimo_v2", default_system="You are MiMo, a helpful AI assistant engineered by Xiaomi.", thought_words=_BARE_THINK),
    _QWEN3_5,
    replace(_QWEN3_5, name="qwen3_5_nothink", thought_words=None),
    replace(_QWEN3_5, name="qwen3_6"),
    TemplateSpec(
        name="moonlight",
        system="<|im_system|>system<|im_middle|>{content}<|im_end|>",
        user="<|im_user|>user<|im_middle|>{content}<|im_end|>",
        generation_prompt="<|im_assistant|>assistant<|im_middle|>",
        assistant="{content}<|im_end|>",
        default_system="You are a helpful assistant provided by Moonshot-AI.",
        stop_words=("<|im_end|>",),
        replace_eos=True,
    ),
    TemplateSpec(
        name="phi4",
        system="<|im_start|>system<|im_sep|>{content}<|im_end|>",
        user="<|im_start|>user<|im_sep|>{content}<|im_end|>",
        generation_prompt="<|im_start|>assistant<|im_sep|>",
        assistant="{content}<|im_end|>",
        stop_words=("<|im_end|>",),
        replace_eos=True,
    ),
    replace(_PHI, name="phi_small", prefix="<|endoftext|>"),
    TemplateSpec(
        name="phi4_mini",
        system="<|system|>{content}<|end|>",
        user="<|user|>{content}<|end|>",
        generation_prompt="<|assistant|>",
        assistant="{content}<|end|>",
        tool_style=None,
        stop_words=("<|end|>",),
        replace_eos=True,
    ),
    TemplateSpec(
        name="starchat",
        system="<|system|>\n{content}<|end|>\n",
        user="<|user|>\n{content}<|end|>\n",
        generation_prompt="<|assistant|>",
        assistant="{content}<|end|>\n",
        stop_words=("<|end|>",),
    ),
    TemplateSpec(
        name="zephyr",
        system="<|system|>\n{content}{eos_token}",
        user="<|user|>\n{content}{eos_token}",
        generation_prompt="<|assistant|>\n",
        default_system="You are Zephyr, a helpful assistant.",
    ),
    TemplateSpec(name="olmo", prefix="{eos_token}", user="<|user|>\n{content}", generation_prompt="<|assistant|>\n"),
    TemplateSpec(
        name="llama4",
        prefix="{bos_token}",
        system="<|header_start|>system<|header_end|>\n\n{content}<|eot|>",
        user="<|header_start|>user<|header_end|>\n\n{content}<|eot|>",
        generation_prompt="<|header_start|>assistant<|header_end|>\n\n",
        assistant="{content}<|eot|>",
        observation="<|header_start|>ipython<|header_end|>\n\n{content}<|eot|>",
        tool_style="llama3",
        stop_words=("<|eot|>", "<|eom|>"),
        replace_eos=True,
    ),
    TemplateSpec(
        name="openchat",
        prefix="{bos_token}",
        user="GPT4 Correct User: {content}{eos_token}",
        generation_prompt="GPT4 Correct Assistant:",
    ),
    TemplateSpec(
        name="openchat-3.6",
        prefix="{bos_token}",
        user="<|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n{content}<|eot_id|>",
        generation_prompt="<|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\n",
        stop_words=("<|eot_id|>",),
    ),
    replace(_GEMMA, name="gemma3n"),
    _GEMMA4,
    replace(_GEMMA4, name="gemma4n"),
    replace(_LLAMA2, name="llama2_zh", default_system="You are a helpful assistant. 你是一个乐于助人的助手。"),
    _MINISTRAL,
    replace(_MINISTRAL, name="ministral3"),
    replace(_GLM4, name="glmz1", thought_words=_THINK),
    _GLM4_7,
    replace(
        _GLM4_7,
        name="aeva",
        default_system=(
            "You are an AI assistant named Aeva created by Zongzhi Lou. "
            "Your answer should be friendly, unbiased, faithful, informative and detailed."
        ),
    ),
    _GPT_OSS,
    TemplateSpec(
        name="granite4",
        system="<|start_of_role|>system<|end_of_role|>{content}<|end_of_text|>\n",
        user="<|start_of_role|>user<|end_of_role|>{content}<|end_of_text|>\n",
        generation_prompt="<|start_of_role|>assistant<|end_of_role|>",
        assistant="{content}<|end_of_text|>\n",
        observation="<|start_of_role|>tool<|end_of_role|>{content}<|end_of_text|>\n",
        default_system="You are Granite, developed by IBM. You are a helpful AI assistant.",
        stop_words=("<|end_of_text|>",),
    ),
    TemplateSpec(
        name="exaone",
        system="[|system|]{content}[|endofturn|]\n",
        user="[|user|]{content}\n",
        generation_prompt="[|assistant|]",
        assistant="{content}{eos_token}\n",
    ),
    TemplateSpec(
        name="deepseekcoder",
        prefix="{bos_token}",
        user="### Instruction:\n{content}\n",
        generation_prompt="### Response:",
        assistant="\n{content}\n<|EOT|>\n",
        default_system=(
            "You are an AI programming assistant, utilizing the DeepSeek Coder model, "
            "developed by DeepSeek Company, and you only answer questions related to computer science. "
            "For politically sensitive questions, security and privacy issues, "
            "and other non-computer science questions, you will refuse to answer.\n"
        ),
    ),
    _SEED_CODER,
    replace(
        _SEED_CODER,
        name="seed_oss",
        default_system=None,
        function="{bos_token}\n{content}{eos_token}",
        tool_style=None,
        thought_words=("<seed:think>", "</seed:think>"),
    ),
    TemplateSpec(
        name="hy3",
        prefix="{bos_token}",
        user="<｜hy_User｜>{content}",
        generation_prompt="<｜hy_Assistant｜>",
        assistant="{content}<｜hy_eos｜>",
        stop_words=("<｜hy_eos｜>",),
        replace_eos=True,
        thought_words=_BARE_THINK,
    ),
    TemplateSpec(
        name="hunyuan",
        prefix="<|startoftext|>",
        system="{content}<|extra_4|>",
        user="{content}<|extra_0|>",
        assistant="{content}<|eos|>",
        stop_words=("<|eos|>",),
    ),
    TemplateSpec(
        name="hunyuan_small",
        prefix="<｜hy_begin▁of▁sentence｜>",
        system="{content}<｜hy_place▁holder▁no▁3｜>",
        user="<｜hy_User｜>{content}<｜hy_place▁holder▁no▁8｜>",
        assistant="{content}<｜hy_place▁holder▁no▁2｜>",
        stop_words=("<｜hy_place▁holder▁no▁2｜>",),
    ),
    TemplateSpec(
        name="youtu",
        prefix="{bos_token}",
        user="<|User|>{content}",
        generation_prompt="<|Assistant|>",
        assistant="{content}<|end_of_text|>",
        function="{content}",
        observation="<tool_response>\n{content}\n</tool_response>",
        stop_words=("<|end_of_text|>",),
        replace_eos=True,
        thought_words=_THINK,
    ),
    TemplateSpec(
        name="ernie_nothink",
        prefix="<|begin_of_sentence|>",
        system="{content}\n",
        user="User: {content}\n",
        generation_prompt="Assistant: ",
        assistant="{content}<|end_of_sentence|>",
        stop_words=("<|end_of_sentence|>",),
    ),
    TemplateSpec(
        name="bailing",
        system="<role>SYSTEM</role>{content}",
        user="<role>HUMAN</role>{content}",
        generation_prompt="<role>ASSISTANT</role>",
        assistant="{content}",
        observation="<role>OBSERVATION</role>{content}",
        stop_words=("<|endoftext|>",),
        efficient_eos=True,
    ),
    TemplateSpec(
        name="bailing_v2",
        system="<role>SYSTEM</role>{content}<|role_end|>",
        user="<role>HUMAN</role>{content}<|role_end|>",
        generation_prompt="<role>ASSISTANT</role>",
        assistant="{content}<|role_end|>",
        observation="<role>OBSERVATION</role>\n<tool_response>\n{content}\n</tool_response><|role_end|>",
        tool_style=None,
        stop_words=("<|endoftext|>",),
        efficient_eos=True,
    ),
    TemplateSpec(
        name="minimax1",
        system="<beginning_of_sentence>system ai_setting=assistant\n{content}<end_of_sentence>\n",
        user="<beginning_of_sentence>user name=user\n{content}<end_of_sentence>\n",
        generation_prompt="<beginning_of_sentence>ai name=assistant\n",
        assistant="{content}<end_of_sentence>\n",
        observation="<beginning_of_sentence>tool name=tools\n{content}<end_of_sentence>\n",
        default_system="You are a helpful assistant.",
        tool_style=None,
        stop_words=("<end_of_sentence>",),
    ),
    TemplateSpec(
        name="minimax2",
        system="]~!b[]~b]system\n{content}[e~[\n",
        user="]~b]user\n{content}[e~[\n",
        generation_prompt="]~b]ai\n",
        assistant="{content}[e~[\n",
        observation="]~b]tool\n<response>{content}</response>[e~[\n",
        default_system="You are a helpful assistant. Your name is MiniMax-M2.1 and is built by MiniMax.",
        tool_style=None,
        stop_words=("[e~[",),
        thought_words=_THINK,
    ),
    TemplateSpec(name="breeze", prefix="{bos_token}", user="[INST] {content} [/INST] ", assistant="{content}", efficient_eos=True),
    TemplateSpec(name="fewshot", assistant="{content}\n\n", efficient_eos=True),
    TemplateSpec(
        name="index",
        system="<unk>{content}",
        user="reserved_0{content}",
        generation_prompt="reserved_1",
        assistant="{content}",
        efficient_eos=True,
    ),
    TemplateSpec(
        name="solar",
        system="### System:\n{content}\n\n",
        user="### User:\n{content}\n\n",
        generation_prompt="### Assistant:\n",
        assistant="{content}",
        efficient_eos=True,
    ),
    TemplateSpec(
        name="telechat2",
        system="<_system>{content}",
        user="<_user>{content}",
        generation_prompt="<_bot>",
        default_system=(
            "你是中国电信星辰语义大模型，英文名是TeleChat，你是由中电信人工智能科技有限公司和中国电信人工智能研究院（TeleAI）研发的人工智能助手。"
        ),
    ),
    TemplateSpec(
        name="xuanyuan",
        user="Human: {content} ",
        generation_prompt="Assistant:",
        default_system=(
            "以下是用户和人工智能助手之间的对话。用户以Human开头，人工智能助手以Assistant开头，"
            "会对人类提出的问题给出有帮助、高质量、详细和礼貌的回答，并且总是拒绝参与与不道德、"
            "不安全、有争议、政治敏感等相关的话题、问题和指示。\n"
        ),
    ),
    TemplateSpec(name="yuan", user="{content}<sep>", assistant="{content}<eod>\n", stop_words=("<eod>",)),
)

TEMPLATE_SPECS: dict[str, TemplateSpec] = {spec.name: spec for spec in SPECS}

MULTIMODAL_ONLY: dict[str, tuple[str, str | None]] = {
    # LLaMA-Factory name: (what the model reads besides text, the template of a text-only model of its family)
    "dots_ocr": ("images", None),
    "ernie_vl": ("images and videos", None),
    "glm4v": ("images and videos", "glm4"),
    "glm4_5v": ("images and videos", "glm4_moe"),
    "glm_ocr": ("images and videos", None),
    "granite3_vision": ("images", "granite3"),
    "intern_vl": ("images and videos", "intern2"),
    "intern_s1": ("images and videos", None),
    "keye_vl": ("images and videos", "qwen3"),
    "kimi_vl": ("images", "moonlight"),
    "lfm2_vl": ("images", "lfm2"),
    "llava": ("images", "vicuna"),
    "llava_next": ("images", "vicuna"),
    "llava_next_llama3": ("images", "llama3"),
    "llava_next_mistral": ("images", "mistral"),
    "llava_next_qwen": ("images", "qwen"),
    "llava_next_yi": ("images", "yi"),
    "llava_next_video": ("images and videos", "vicuna"),
    "llava_next_video_mistral": ("images and videos", "mistral"),
    "llava_next_video_yi": ("images and videos", "yi"),
    "mimo_vl": ("images and videos", "mimo"),
    "minicpm_v": ("images and videos", None),
    "minicpm_v_4_6": ("images and videos", None),
    "minicpm_o": ("images, videos and audio", None),
    "mllama": ("images", "llama3_2"),
    "paligemma": ("images", None),
    "paligemma_chat": ("images", "gemma"),
    "pixtral": ("images", "ministral"),
    "qwen2_audio": ("audio", None),
    "qwen2_omni": ("images, videos and audio", None),
    "qwen3_omni": ("images, videos and audio", "qwen3"),
    "qwen3_omni_nothink": ("images, videos and audio", "qwen3_nothink"),
    "qwen2_vl": ("images and videos", "qwen"),
    "qwen3_vl": ("images and videos", "qwen3"),
    "qwen3_vl_nothink": ("images and videos", "qwen3_nothink"),
    "video_llava": ("images and videos", "vicuna"),
    "yi_vl": ("images", None),
    "youtu_vl": ("images and videos", None),
}
"""LLaMA-Factory's templates for vision, video and audio models, refused until multimodal inputs are supported.

Text LLMs that also read images (Gemma 3/3n/4, Llama 4, Mistral Small, Ministral 3, Qwen 3.5) keep their
templates above, which render text; these models are used for their media, so a text-only rendering of
their template would hide that the media were dropped.
"""


def multimodal_refusal(name: str) -> str:
    """Why template ``name`` (a key of ``MULTIMODAL_ONLY``) is refused, and what to set instead."""
    media, text_sibling = MULTIMODAL_ONLY[name]
    sibling = f", or {text_sibling!r} for a text-only model of the same family" if text_sibling else ""
    return (
        f"template {name!r} is LLaMA-Factory's template for a model that reads {media}, and image, video and audio inputs "
        f"are not supported yet: for text-only data set template to auto (the tokenizer's own chat_template){sibling}"
    )
