"""The named chat templates: one ``TemplateSpec`` per LLaMA-Factory name.

Where versions of a family render differently, each version has its own name
(``llama3`` vs ``llama3_1``, ``mistral`` vs ``mistral_nemo``). Texts that the
official templates fill with today's date use ``TEMPLATE_DATE`` instead, so
that the same data always gives the same tokens.
"""

from dataclasses import replace

from workflows.templates.formats import TemplateSpec

TEMPLATE_DATE = "26 Jul 2024"
"""The date Llama 3.1's template falls back to; dated system prompts use it."""

MISTRAL_SMALL_3_2_SYSTEM = (
    "You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, a French startup "
    "headquartered in Paris.\n"
    "Your knowledge base was last updated on 2023-10-01. The current date is 2024-07-26.\n"
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
    name="qwen",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    generation_prompt="<|im_start|>assistant\n",
    assistant="{content}<|im_end|>\n",
    observation="<|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n",
    tool_style="qwen",
    stop_words=("<|im_end|>",),
    replace_eos=True,
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
    TemplateSpec(
        name="llama2",
        system="<<SYS>>\n{content}\n<</SYS>>\n\n",
        system_placement="first_user",
        user="<s>[INST] {content} [/INST]",
        assistant=" {content} </s>",
        strip_content=True,
    ),
    _LLAMA3,
    _LLAMA3_1,
    replace(_LLAMA3_1, name="llama3_2"),
    _CHATML,
    replace(_CHATML, name="qwen2_5", default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
    replace(_CHATML, name="qwen3", thought_words=_THINK),
    replace(_CHATML, name="qwen3_nothink"),
    replace(_CHATML, name="yi", observation=None, tool_style="default"),
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
)

TEMPLATE_SPECS: dict[str, TemplateSpec] = {spec.name: spec for spec in SPECS}
