"""Every template name a LLaMA-Factory 0.9.5 config can hold renders as LLaMA-Factory renders it, or is refused clearly.

The expected texts were rendered by LLaMA-Factory 0.9.5 itself (``Template.encode_multiturn`` with a stand-in
tokenizer whose bos is "<s>" and eos "</s>", decoded back to text), except the few where we deliberately
render the official template instead; each of those says why.
"""

import json
from types import SimpleNamespace

import pytest

from workflows.errors import ConfigError
from workflows.templates import get_template, list_templates
from workflows.templates.registry import MULTIMODAL_ONLY

# sorted(llamafactory.data.template.TEMPLATES) of llamafactory==0.9.5 from PyPI: 121 names
LLAMAFACTORY_NAMES = """
    aeva alpaca bailing bailing_v2 breeze chatglm3 chatml chatml_de cohere cpm4 dbrx deepseek deepseek3 deepseekcoder deepseekr1
    default dots_ocr empty ernie ernie_nothink ernie_vl exaone falcon falcon_h1 fewshot gemma gemma2 gemma3 gemma3n gemma4
    gemma4n glm4 glm4_5v glm4_7 glm4_moe glm4v glm_ocr glmz1 gpt_oss granite3 granite3_vision granite4 hunyuan hunyuan_small hy3
    index intern2 intern_s1 intern_vl keye_vl kimi_vl lfm2 lfm2_vl llama2 llama2_zh llama3 llama4 llava llava_next
    llava_next_llama3 llava_next_mistral llava_next_qwen llava_next_video llava_next_video_mistral llava_next_video_yi
    llava_next_yi mimo mimo_v2 mimo_vl minicpm_o minicpm_v minicpm_v_4_6 minimax1 minimax2 ministral ministral3 mistral
    mistral_small mllama moonlight olmo openchat openchat-3.6 opencoder paligemma paligemma_chat phi phi4 phi4_mini phi_small
    pixtral qwen qwen2_audio qwen2_omni qwen2_vl qwen3 qwen3_5 qwen3_5_nothink qwen3_6 qwen3_nothink qwen3_omni
    qwen3_omni_nothink qwen3_vl qwen3_vl_nothink sailor seed_coder seed_oss smollm smollm2 solar starchat telechat2 vicuna
    video_llava xuanyuan yi yi_vl youtu youtu_vl yuan zephyr
""".split()

# the templates of vision, video and audio models: refused until multimodal inputs are supported
REFUSED = set(
    """
    dots_ocr ernie_vl glm4_5v glm4v glm_ocr granite3_vision intern_s1 intern_vl keye_vl kimi_vl lfm2_vl llava llava_next
    llava_next_llama3 llava_next_mistral llava_next_qwen llava_next_video llava_next_video_mistral llava_next_video_yi
    llava_next_yi mimo_vl minicpm_o minicpm_v minicpm_v_4_6 mllama paligemma paligemma_chat pixtral qwen2_audio qwen2_omni
    qwen2_vl qwen3_omni qwen3_omni_nothink qwen3_vl qwen3_vl_nothink video_llava yi_vl youtu_vl
""".split()
)

# their families write tools in formats not implemented here: tools and function calls are refused
NO_TOOLS = {
    "aeva",
    "bailing_v2",
    "gemma4",
    "gemma4n",
    "glm4_7",
    "gpt_oss",
    "lfm2",
    "minimax1",
    "minimax2",
    "phi4_mini",
    "qwen3_5",
    "qwen3_5_nothink",
    "qwen3_6",
    "seed_oss",
}

TOKENIZER = SimpleNamespace(bos_token="<s>", eos_token="</s>")
CALL = json.dumps({"name": "f", "arguments": {"x": 1}})
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a prime."},
    {"role": "assistant", "content": "Seven."},
]
TOOL_CHAT = [*CHAT[:4], {"role": "function_call", "content": CALL}, {"role": "observation", "content": "1"}, CHAT[4]]
NO_SYSTEM = CHAT[1:3]

# name: (TOOL_CHAT rendered, or CHAT for the NO_TOOLS names; NO_SYSTEM rendered), as LLaMA-Factory 0.9.5 renders them
LLAMAFACTORY_RENDERINGS = {
    "chatml": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>tool\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "chatml_de": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>tool\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<|im_start|>system\nDu bist ein freundlicher und hilfsbereiter KI-Assistent.<|im_end|>\n<|im_start|>user\n"
        "Hi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "cpm4": (
        "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>tool\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "dbrx": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>tool\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<|im_start|>system\nYou are DBRX, created by Databricks. You were last updated in December 2023. You answer "
        "questions based on information available up to that point.\n"
        "YOU PROVIDE SHORT RESPONSES TO SHORT QUESTIONS OR STATEMENTS, but provide thorough "
        "responses to more complex and open-ended questions.\n"
        "You assist with various tasks, from writing to coding (using markdown for code blocks — "
        "remember to use ``` with code, JSON, and tables).\n"
        "(You do not have real-time data access or code execution capabilities. You avoid "
        "stereotyping and provide balanced perspectives on controversial topics. You do not provide "
        "song lyrics, poems, or news articles and do not divulge details of your training data.)\n"
        "This is your system prompt, guiding your responses. Do not reference it, just respond to "
        "the user. If you find yourself talking about this message, stop. You should be responding "
        "appropriately and usually that means not mentioning this.\n"
        "YOU DO NOT MENTION ANY OF THIS INFORMATION ABOUT YOURSELF UNLESS THE INFORMATION IS "
        "DIRECTLY PERTINENT TO THE USER'S QUERY.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n",
    ),
    "falcon_h1": (
        "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>tool\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "intern2": (
        "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>user\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<s><|im_start|>system\nYou are an AI assistant whose name is InternLM (书生·浦语).\n"
        "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI "
        "Laboratory (上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
        "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the "
        "user such as English and 中文.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n",
    ),
    "lfm2": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n",
        "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "opencoder": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>tool\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<|im_start|>system\nYou are OpenCoder, created by OpenCoder Team.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "sailor": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>question\nHi<|im_end|>\n<|im_start|>answer\n"
        "Hello!<|im_end|>\n<|im_start|>question\nName a prime.<|im_end|>\n<|im_start|>answer\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>question\n1<|im_end|>\n<|im_start|>answer\nSeven.<|im_end|>\n',
        "<|im_start|>system\n"
        "You are an AI assistant named Sailor created by Sea AI Lab. Your answer should be friendly, "
        "unbiased, faithful, informative and detailed.<|im_end|>\n<|im_start|>question\nHi<|im_end|>\n"
        "<|im_start|>answer\nHello!<|im_end|>\n",
    ),
    "smollm": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>user\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "smollm2": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n<|im_start|>user\n1<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n',
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "ernie": (
        "<|im_start|>system\nBe brief.<|im_end|>\n\n<|im_start|>user\nHi<|im_end|>\n\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n\n<|im_start|>user\nName a prime.<|im_end|>\n\n<|im_start|>assistant\nAction: f\n"
        'Action Input: {"x": 1}<|im_end|>\n\n<|im_start|>tool\n1<|im_end|>\n\n<|im_start|>assistant\n'
        "Seven.<|im_end|>\n\n",
        "<|im_start|>system\n<global_setting>\nthink_mode=True\n</global_setting><|im_end|>\n\n<|im_start|>user\n"
        "Hi<|im_end|>\n\n<|im_start|>assistant\nHello!<|im_end|>\n\n",
    ),
    "qwen3_5_nothink": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    ),
    "moonlight": (
        "<|im_system|>system<|im_middle|>Be brief.<|im_end|><|im_user|>user<|im_middle|>Hi<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|>Hello!<|im_end|><|im_user|>user<|im_middle|>Name a "
        "prime.<|im_end|><|im_assistant|>assistant<|im_middle|>Action: f\n"
        'Action Input: {"x": 1}<|im_end|><|im_user|>user<|im_middle|>1<|im_end|>'
        "<|im_assistant|>assistant<|im_middle|>Seven.<|im_end|>",
        "<|im_system|>system<|im_middle|>You are a helpful assistant provided by Moonshot-AI."
        "<|im_end|><|im_user|>user<|im_middle|>Hi<|im_end|><|im_assistant|>assistant<|im_middle|>Hello!<|im_end|>",
    ),
    "phi4": (
        "<|im_start|>system<|im_sep|>Be brief.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"
        "<|im_start|>assistant<|im_sep|>Hello!<|im_end|><|im_start|>user<|im_sep|>Name a prime."
        "<|im_end|><|im_start|>assistant<|im_sep|>Action: f\n"
        'Action Input: {"x": 1}<|im_end|><|im_start|>user<|im_sep|>1<|im_end|><|im_start|>assistant'
        "<|im_sep|>Seven.<|im_end|>",
        "<|im_start|>user<|im_sep|>Hi<|im_end|><|im_start|>assistant<|im_sep|>Hello!<|im_end|>",
    ),
    "phi4_mini": (
        "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|><|user|>Name a prime.<|end|><|assistant|>Seven.<|end|>",
        "<|user|>Hi<|end|><|assistant|>Hello!<|end|>",
    ),
    "starchat": (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>Hello!<|end|>\n<|user|>\n"
        'Name a prime.<|end|>\n<|assistant|>Action: f\nAction Input: {"x": 1}<|end|>\n<|user|>\n1<|end|>\n'
        "<|assistant|>Seven.<|end|>\n",
        "<|user|>\nHi<|end|>\n<|assistant|>Hello!<|end|>\n",
    ),
    "zephyr": (
        "<|system|>\nBe brief.</s><|user|>\nHi</s><|assistant|>\nHello!</s><|user|>\nName a prime.</s><|assistant|>\n"
        'Action: f\nAction Input: {"x": 1}</s><|user|>\n1</s><|assistant|>\nSeven.</s>',
        "<|system|>\nYou are Zephyr, a helpful assistant.</s><|user|>\nHi</s><|assistant|>\nHello!</s>",
    ),
    "olmo": (
        "</s>Be brief.<|user|>\nHi<|assistant|>\nHello!</s><|user|>\nName a prime.<|assistant|>\nAction: f\n"
        'Action Input: {"x": 1}</s><|user|>\n1<|assistant|>\nSeven.</s>',
        "</s><|user|>\nHi<|assistant|>\nHello!</s>",
    ),
    "llama4": (
        "<s><|header_start|>system<|header_end|>\n\nBe brief.<|eot|><|header_start|>user<|header_end|>\n\n"
        "Hi<|eot|><|header_start|>assistant<|header_end|>\n\nHello!<|eot|><|header_start|>user<|header_end|>\n\n"
        "Name a prime.<|eot|><|header_start|>assistant<|header_end|>\n\n"
        '{"name": "f", "parameters": {"x": 1}}<|eot|><|header_start|>ipython<|header_end|>\n\n'
        "1<|eot|><|header_start|>assistant<|header_end|>\n\nSeven.<|eot|>",
        "<s><|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\nHello!<|eot|>",
    ),
    "openchat": (
        "<s>Be brief.GPT4 Correct User: Hi</s>GPT4 Correct Assistant:Hello!</s>GPT4 Correct User: "
        "Name a prime.</s>GPT4 Correct Assistant:Action: f\n"
        'Action Input: {"x": 1}</s>GPT4 Correct User: 1</s>GPT4 Correct Assistant:Seven.</s>',
        "<s>GPT4 Correct User: Hi</s>GPT4 Correct Assistant:Hello!</s>",
    ),
    "openchat-3.6": (
        "<s>Be brief.<|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n"
        "Hi<|eot_id|><|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\n"
        "Hello!</s><|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n"
        "Name a prime.<|eot_id|><|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\nAction: f\n"
        'Action Input: {"x": 1}</s><|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n'
        "1<|eot_id|><|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\nSeven.</s>",
        "<s><|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n"
        "Hi<|eot_id|><|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\nHello!</s>",
    ),
    "ministral": (
        "<s>[INST]Be brief.\n\n"
        'Hi[/INST]Hello!</s>[INST]Name a prime.[/INST][TOOL_CALLS][{"name": "f", "arguments": {"x": '
        '1}}]</s>[TOOL_RESULTS]{"content": 1}[/TOOL_RESULTS]Seven.</s>',
        "<s>[INST]Hi[/INST]Hello!</s>",
    ),
    "ministral3": (
        "<s>[INST]Be brief.\n\n"
        'Hi[/INST]Hello!</s>[INST]Name a prime.[/INST][TOOL_CALLS][{"name": "f", "arguments": {"x": '
        '1}}]</s>[TOOL_RESULTS]{"content": 1}[/TOOL_RESULTS]Seven.</s>',
        "<s>[INST]Hi[/INST]Hello!</s>",
    ),
    "exaone": (
        "[|system|]Be brief.[|endofturn|]\n[|user|]Hi\n[|assistant|]Hello!</s>\n[|user|]Name a prime.\n"
        '[|assistant|]Action: f\nAction Input: {"x": 1}</s>\n[|user|]1\n[|assistant|]Seven.</s>\n',
        "[|user|]Hi\n[|assistant|]Hello!</s>\n",
    ),
    "deepseekcoder": (
        "<s>Be brief.### Instruction:\nHi\n### Response:\nHello!\n<|EOT|>\n### Instruction:\nName a prime.\n"
        '### Response:\nAction: f\nAction Input: {"x": 1}\n<|EOT|>\n### Instruction:\n1\n### Response:\nSeven.\n'
        "<|EOT|>\n",
        "<s>You are an AI programming assistant, utilizing the DeepSeek Coder model, developed by "
        "DeepSeek Company, and you only answer questions related to computer science. For "
        "politically sensitive questions, security and privacy issues, and other non-computer "
        "science questions, you will refuse to answer.\n### Instruction:\nHi\n### Response:\nHello!\n<|EOT|>\n",
    ),
    "seed_coder": (
        "<s>system\nBe brief.</s><s>user\nHi</s><s>assistant\nHello!</s><s>user\nName a prime.</s><s>assistant\n"
        'Action: f\nAction Input: {"x": 1}</s><s>user\n1</s><s>assistant\nSeven.</s>',
        "<s>system\nYou are an AI programming assistant, utilizing the Seed-Coder model, developed by ByteDance "
        "Seed, and you only answer questions related to computer science. For politically sensitive "
        "questions, security and privacy issues, and other non-computer science questions, you will refuse to answer.\n"
        "\n</s><s>user\nHi</s><s>assistant\nHello!</s>",
    ),
    "hunyuan": (
        "<|startoftext|>Be brief.<|extra_4|>Hi<|extra_0|>Hello!<|eos|>Name a prime.<|extra_0|>Action: f\n"
        'Action Input: {"x": 1}<|eos|>1<|extra_0|>Seven.<|eos|>',
        "<|startoftext|>Hi<|extra_0|>Hello!<|eos|>",
    ),
    "hunyuan_small": (
        "<｜hy_begin▁of▁sentence｜>Be brief.<｜hy_place▁holder▁no▁3｜><｜hy_User｜>Hi"
        "<｜hy_place▁holder▁no▁8｜>Hello!<｜hy_place▁holder▁no▁2｜><｜hy_User｜>Name a prime."
        "<｜hy_place▁holder▁no▁8｜>Action: f\n"
        'Action Input: {"x": 1}<｜hy_place▁holder▁no▁2｜><｜hy_User｜>1<｜hy_place▁holder▁no▁8｜>Seven.'
        "<｜hy_place▁holder▁no▁2｜>",
        "<｜hy_begin▁of▁sentence｜><｜hy_User｜>Hi<｜hy_place▁holder▁no▁8｜>Hello!<｜hy_place▁holder▁no▁2｜>",
    ),
    "ernie_nothink": (
        "<|begin_of_sentence|>Be brief.\nUser: Hi\nAssistant: Hello!<|end_of_sentence|>User: Name a prime.\n"
        'Assistant: Action: f\nAction Input: {"x": 1}<|end_of_sentence|>User: 1\nAssistant: Seven.<|end_of_sentence|>',
        "<|begin_of_sentence|>User: Hi\nAssistant: Hello!<|end_of_sentence|>",
    ),
    "bailing": (
        "<role>SYSTEM</role>Be brief.<role>HUMAN</role>Hi<role>ASSISTANT</role>Hello!<role>HUMAN"
        "</role>Name a prime.<role>ASSISTANT</role>Action: f\n"
        'Action Input: {"x": 1}<role>OBSERVATION</role>1<role>ASSISTANT</role>Seven.',
        "<role>HUMAN</role>Hi<role>ASSISTANT</role>Hello!",
    ),
    "bailing_v2": (
        "<role>SYSTEM</role>Be brief.<|role_end|><role>HUMAN</role>Hi<|role_end|><role>ASSISTANT"
        "</role>Hello!<|role_end|><role>HUMAN</role>Name a prime.<|role_end|><role>ASSISTANT</role>Seven.<|role_end|>",
        "<role>HUMAN</role>Hi<|role_end|><role>ASSISTANT</role>Hello!<|role_end|>",
    ),
    "minimax1": (
        "<beginning_of_sentence>system ai_setting=assistant\nBe brief.<end_of_sentence>\n"
        "<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n<beginning_of_sentence>ai name=assistant\n"
        "Hello!<end_of_sentence>\n<beginning_of_sentence>user name=user\nName a prime.<end_of_sentence>\n"
        "<beginning_of_sentence>ai name=assistant\nSeven.<end_of_sentence>\n",
        "<beginning_of_sentence>system ai_setting=assistant\nYou are a helpful assistant.<end_of_sentence>\n"
        "<beginning_of_sentence>user name=user\nHi<end_of_sentence>\n<beginning_of_sentence>ai name=assistant\n"
        "Hello!<end_of_sentence>\n",
    ),
    "breeze": (
        '<s>Be brief.[INST] Hi [/INST] Hello![INST] Name a prime. [/INST] Action: f\nAction Input: {"x": 1}[INST] 1 [/INST] Seven.',
        "<s>[INST] Hi [/INST] Hello!",
    ),
    "fewshot": (
        'Be brief.HiHello!\n\nName a prime.Action: f\nAction Input: {"x": 1}\n\n1Seven.\n\n',
        "HiHello!\n\n",
    ),
    "index": (
        "<unk>Be brief.reserved_0Hireserved_1Hello!reserved_0Name a prime.reserved_1Action: f\n"
        'Action Input: {"x": 1}reserved_01reserved_1Seven.',
        "reserved_0Hireserved_1Hello!",
    ),
    "solar": (
        "### System:\nBe brief.\n\n### User:\nHi\n\n### Assistant:\nHello!### User:\nName a prime.\n\n### Assistant:\n"
        'Action: f\nAction Input: {"x": 1}### User:\n1\n\n### Assistant:\nSeven.',
        "### User:\nHi\n\n### Assistant:\nHello!",
    ),
    "telechat2": (
        "<_system>Be brief.<_user>Hi<_bot>Hello!</s><_user>Name a prime.<_bot>Action: f\n"
        'Action Input: {"x": 1}</s><_user>1<_bot>Seven.</s>',
        "<_system>你是中国电信星辰语义大模型，英文名是TeleChat，你是由中电信人工智能科技有限公司和中国电信人工智能研究院（TeleAI）研发的人工智能助手。<_user>Hi<_bot>Hello!</s>",
    ),
    "xuanyuan": (
        "Be brief.Human: Hi Assistant:Hello!</s>Human: Name a prime. Assistant:Action: f\n"
        'Action Input: {"x": 1}</s>Human: 1 Assistant:Seven.</s>',
        "以下是用户和人工智能助手之间的对话。用户以Human开头，人工智能助手以Assistant开头，会对人类提出的问题给出有帮助、高质量、详细和礼貌的回答，并且总是拒绝"
        "参与与不道德、不安全、有争议、政治敏感等相关的话题、问题和指示。\nHuman: Hi Assistant:Hello!</s>",
    ),
    "yuan": (
        'Be brief.Hi<sep>Hello!<eod>\nName a prime.<sep>Action: f\nAction Input: {"x": 1}<eod>\n1<sep>Seven.<eod>\n',
        "Hi<sep>Hello!<eod>\n",
    ),
}

# Reasoning templates keep a thought block only on the answers after the last user query, inside the answer,
# as Qwen 3's official template does (our qwen3 too); LLaMA-Factory writes an (empty) one before every answer.
THOUGHT_RULE_RENDERINGS = {
    "mimo": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n<tool_call>\n"
        '{"name": "f", "arguments": {"x": 1}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n1\n'
        "</tool_response><|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nSeven.<|im_end|>\n",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
    ),
    "mimo_v2": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n<tool_call>\n"
        '{"name": "f", "arguments": {"x": 1}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n1\n'
        "</tool_response><|im_end|>\n<|im_start|>assistant\n<think></think>Seven.<|im_end|>\n",
        "<|im_start|>system\nYou are MiMo, a helpful AI assistant engineered by Xiaomi.<|im_end|>\n<|im_start|>user\n"
        "Hi<|im_end|>\n<|im_start|>assistant\n<think></think>Hello!<|im_end|>\n",
    ),
    "qwen3_5": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
        "Seven.<|im_end|>\n",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
    ),
    "qwen3_6": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
        "Seven.<|im_end|>\n",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
    ),
    "gemma4": (
        "<s><|turn>system\n<|think|>Be brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello!<turn|>\n"
        "<|turn>user\nName a prime.<turn|>\n<|turn>model\n<|channel>thought\n<channel|>Seven.<turn|>\n",
        "<s><|turn>system\n<|think|>You are a helpful assistant.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n"
        "<|channel>thought\n<channel|>Hello!<turn|>\n",
    ),
    "gemma4n": (
        "<s><|turn>system\n<|think|>Be brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello!<turn|>\n"
        "<|turn>user\nName a prime.<turn|>\n<|turn>model\n<|channel>thought\n<channel|>Seven.<turn|>\n",
        "<s><|turn>system\n<|think|>You are a helpful assistant.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n"
        "<|channel>thought\n<channel|>Hello!<turn|>\n",
    ),
    "glmz1": (
        "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\nName a prime.<|assistant|>f\n"
        '{"x": 1}<|observation|>\n1<|assistant|>\n<think>\n\n</think>\n\nSeven.',
        "[gMASK]<sop><|user|>\nHi<|assistant|>\n<think>\n\n</think>\n\nHello!",
    ),
    "glm4_7": (
        "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\nName a prime.<|assistant|>\n<think></think>Seven.",
        "[gMASK]<sop><|user|>\nHi<|assistant|>\n<think></think>Hello!",
    ),
    "aeva": (
        "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\nName a prime.<|assistant|>\n<think></think>Seven.",
        "[gMASK]<sop><|system|>\n"
        "You are an AI assistant named Aeva created by Zongzhi Lou. Your answer should be friendly, "
        "unbiased, faithful, informative and detailed.<|user|>\nHi<|assistant|>\n<think></think>Hello!",
    ),
    "seed_oss": (
        "<s>system\nBe brief.</s><s>user\nHi</s><s>assistant\nHello!</s><s>user\nName a prime.</s><s>assistant\n"
        "<seed:think></seed:think>Seven.</s>",
        "<s>user\nHi</s><s>assistant\n<seed:think></seed:think>Hello!</s>",
    ),
    "hy3": (
        "<s>Be brief.<｜hy_User｜>Hi<｜hy_Assistant｜>Hello!<｜hy_eos｜><｜hy_User｜>Name a prime.<｜hy_Assistant｜>Action: f\n"
        'Action Input: {"x": 1}<｜hy_eos｜><｜hy_User｜>1<｜hy_Assistant｜><think></think>Seven.<｜hy_eos｜>',
        "<s><｜hy_User｜>Hi<｜hy_Assistant｜><think></think>Hello!<｜hy_eos｜>",
    ),
    "youtu": (
        "<s>Be brief.<|User|>Hi<|Assistant|>Hello!<|end_of_text|><|User|>Name a prime.<|Assistant|>Action: f\n"
        'Action Input: {"x": 1}<tool_response>\n1\n</tool_response><|Assistant|><think>\n\n</think>\n\n'
        "Seven.<|end_of_text|>",
        "<s><|User|>Hi<|Assistant|><think>\n\n</think>\n\nHello!<|end_of_text|>",
    ),
    "minimax2": (
        "]~!b[]~b]system\nBe brief.[e~[\n]~b]user\nHi[e~[\n]~b]ai\nHello![e~[\n]~b]user\nName a prime.[e~[\n]~b]ai\n"
        "<think>\n\n</think>\n\nSeven.[e~[\n",
        "]~!b[]~b]system\nYou are a helpful assistant. Your name is MiniMax-M2.1 and is built by MiniMax.[e~[\n"
        "]~b]user\nHi[e~[\n]~b]ai\n<think>\n\n</think>\n\nHello![e~[\n",
    ),
}

# Where LLaMA-Factory's rendering is a bug or leaves the official template
OFFICIAL_RENDERINGS = {
    # LLaMA-Factory's prefix slot is the set {'<|endoftext|>'}, which it silently drops: Phi-3-small's template starts with
    # its bos <|endoftext|>
    "phi_small": (
        "<|endoftext|><|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n"
        'Name a prime.<|end|>\n<|assistant|>\nAction: f\nAction Input: {"x": 1}<|end|>\n<|user|>\n1<|end|>\n'
        "<|assistant|>\nSeven.<|end|>\n",
        "<|endoftext|><|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n",
    ),
    # written as gemma3 is: the Gemma tokenizer's bos, <bos>, is part of the spec
    "gemma3n": (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nName a prime.<end_of_turn>\n<start_of_turn>model\nAction: f\n"
        'Action Input: {"x": 1}<end_of_turn>\n<start_of_turn>tool\n1<end_of_turn>\n<start_of_turn>model\n'
        "Seven.<end_of_turn>\n",
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
    ),
    # llama2's official spacing and trimming (' {content} </s>'), which our llama2 already follows
    "llama2_zh": (
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Name a prime. [/INST] Action: f\n"
        'Action Input: {"x": 1} </s><s>[INST] 1 [/INST] Seven. </s>',
        "<s>[INST] <<SYS>>\nYou are a helpful assistant. 你是一个乐于助人的助手。\n<</SYS>>\n\nHi [/INST] Hello! </s>",
    ),
    # the official harmony format (tested against its golden in test_templates.py); LLaMA-Factory drops the dated
    # system turn and the channels' <|end|>
    "gpt_oss": (
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\nCurrent date: 2024-07-26\n\nReasoning: medium\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message."
        "<|end|><|start|>developer<|message|># Instructions\n\nBe brief.\n\n"
        "<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello!"
        "<|end|><|start|>user<|message|>Name a prime.<|end|><|start|>assistant<|channel|>final"
        "<|message|>Seven.<|return|>",
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\nCurrent date: 2024-07-26\n\nReasoning: medium\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message."
        "<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>",
    ),
    # LLaMA-Factory's observation slot ends with '<|start_of_role|>assistant\n', a typo for the assistant header
    # used everywhere else
    "granite4": (
        "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n"
        "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n"
        "<|start_of_role|>user<|end_of_role|>Name a prime.<|end_of_text|>\n"
        '<|start_of_role|>assistant<|end_of_role|>Action: f\nAction Input: {"x": 1}<|end_of_text|>\n'
        "<|start_of_role|>tool<|end_of_role|>1<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>Seven.<|end_of_text|>\n",
        "<|start_of_role|>system<|end_of_role|>You are Granite, developed by IBM. You are a helpful "
        "AI assistant.<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n",
    ),
}

EXPECTED = {**LLAMAFACTORY_RENDERINGS, **THOUGHT_RULE_RENDERINGS, **OFFICIAL_RENDERINGS}


def test_every_name_either_renders_or_is_refused():
    assert len(LLAMAFACTORY_NAMES) == 121 and REFUSED < set(LLAMAFACTORY_NAMES)
    renderable = set(LLAMAFACTORY_NAMES) - REFUSED
    assert renderable <= set(list_templates()) and REFUSED.isdisjoint(list_templates())
    for name in REFUSED:
        with pytest.raises(ConfigError, match=rf"^template '{name}' is LLaMA-Factory's template for a model that reads"):
            get_template(name, TOKENIZER)


def test_each_added_name_has_an_expected_rendering():
    """The names this table checks are exactly the renderable ones test_templates.py does not already check."""
    checked_elsewhere = set(
        "alpaca baichuan2 chatglm3 cohere deepseek deepseek3 deepseek3_1 deepseekr1 default empty falcon gemma gemma2 gemma3 glm4 "
        "glm4_moe granite3 llama2 llama3 llama3_1 llama3_2 mistral mistral_nemo mistral_small mistral_small3_2 phi phi3 phi3_5 qwen "
        "qwen2_5 qwen3 qwen3_nothink vicuna yi".split()
    )
    assert set(EXPECTED) == set(list_templates()) - checked_elsewhere - {"auto"}


@pytest.mark.parametrize("name", EXPECTED)
def test_renders_the_expected_text(name):
    template = get_template(name, TOKENIZER)
    chat, no_system = EXPECTED[name]
    assert template.render(CHAT if name in NO_TOOLS else TOOL_CHAT) == chat
    assert template.render(NO_SYSTEM) == no_system


def test_the_refusal_says_why_and_what_to_use_instead():
    with pytest.raises(ConfigError) as refused:
        get_template("qwen2_vl", TOKENIZER)
    assert str(refused.value) == (
        "template 'qwen2_vl' is LLaMA-Factory's template for a model that reads images and videos, and image, video and audio "
        "inputs are not supported yet: for text-only data set template to auto (the tokenizer's own chat_template), "
        "or 'qwen' for a text-only model of the same family"
    )
    with pytest.raises(ConfigError) as refused:
        get_template("qwen2_audio", TOKENIZER)
    assert str(refused.value) == (
        "template 'qwen2_audio' is LLaMA-Factory's template for a model that reads audio, and image, video and audio "
        "inputs are not supported yet: for text-only data set template to auto (the tokenizer's own chat_template)"
    )


def test_suggested_text_templates_exist():
    assert {sibling for _, sibling in MULTIMODAL_ONLY.values() if sibling} <= set(list_templates())


@pytest.mark.parametrize("name", sorted(NO_TOOLS))
def test_tools_are_refused_where_their_format_is_not_implemented(name):
    template = get_template(name, TOKENIZER)
    message = (
        f"template '{name}' does not support tools or function calls yet (its model family writes them in a format not "
        "implemented here): set template to auto to render them with the tokenizer's own chat_template"
    )
    with pytest.raises(ConfigError) as refused:
        template.render(TOOL_CHAT)
    assert str(refused.value) == message
    with pytest.raises(ConfigError) as refused:
        template.render(CHAT[:2], tools=json.dumps([{"name": "f", "parameters": {}}]), add_generation_prompt=True)
    assert str(refused.value) == message


def test_chatml_renders_and_encodes_like_the_builtin_models_chatml_template(tiny_model_dir):
    """LLaMA-Factory's benchmark configs say `template: chatml` for a tokenizer that carries ChatML, as ours does."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    named, auto = get_template("chatml", tokenizer), get_template("auto", tokenizer)
    with_tool_result = [*CHAT[:3], {"role": "observation", "content": "1"}, CHAT[4]]
    for messages in (CHAT, NO_SYSTEM, with_tool_result):
        assert named.render(messages) == auto.render(messages)
        pairs = named.encode_multiturn(tokenizer, messages)
        assert [token for prompt, answer in pairs for token in prompt + answer] == tokenizer(auto.render(messages))["input_ids"]
    assert named.encode_prompt(tokenizer, CHAT[:4]) == auto.encode_prompt(tokenizer, CHAT[:4])
    named.fix_tokenizer(tokenizer)
    assert tokenizer.eos_token == "<|im_end|>" and named.stop_words == ["<|im_end|>", "<|im_start|>"]


def test_gemma3n_writes_text_as_gemma3s_official_template_does(fixtures_dir, load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer("gemma3")
    template = get_template("gemma3n", tokenizer)
    conversations = json.loads((fixtures_dir / "tokenizers" / "conversations.json").read_text())["conversations"]
    results = json.loads((fixtures_dir / "tokenizers" / "gemma3" / "golden.json").read_text())["results"]
    for key, conversation in conversations.items():
        text = template.render(conversation["messages"], add_generation_prompt=conversation["add_generation_prompt"])
        assert text == results[key]["text"], key


def test_reasoning_templates_keep_the_last_thought_in_their_own_words():
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>add</think>4"}]
    assert get_template("mimo_v2", TOKENIZER).render(messages).endswith("<|im_start|>assistant\n<think>add</think>4<|im_end|>\n")
    seed = get_template("seed_oss", TOKENIZER).render([{**messages[0]}, {"role": "assistant", "content": "<seed:think>add</seed:think>4"}])
    assert seed.endswith("<s>assistant\n<seed:think>add</seed:think>4</s>")
    prompt = get_template("qwen3_5", TOKENIZER, enable_thinking=False).render(messages[:1], add_generation_prompt=True)
    assert prompt == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_gpt_oss_ends_only_a_finished_conversation_with_return():
    template = get_template("gpt_oss", TOKENIZER)
    assert template.render(CHAT).endswith(
        "<|channel|>final<|message|>Hello!<|end|><|start|>user<|message|>Name a prime.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Seven.<|return|>"
    )
    assert template.render(CHAT[:4], add_generation_prompt=True).endswith("<|start|>user<|message|>Name a prime.<|end|><|start|>assistant")
    assert template.stop_words == ["<|return|>", "<|call|>"]
