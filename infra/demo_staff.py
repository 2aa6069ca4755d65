"""Demo staff for the local stack: handlers on duty in every department, leads and a manager, so a
complaint submitted on a fresh ``make run`` is routed, assigned and watched by the SLA sweep.

Handler ids are the subjects ``complaints token --name "<Name>"`` signs (``dev-li-wei``), so a
token for "Li Wei" sees Li Wei's queue and inbox. Seeded only while the routing configuration is
still the bundled default (version 0): a stack someone has configured is left alone.
"""
from __future__ import annotations

from typing import Any

from infra.devkeys import subject_for

# (name, departments, languages, skills); leads and the manager handle cases too
HANDLERS: list[tuple[str, list[str], list[str], list[str]]] = [
    ("Li Wei", ["quality"], ["zh", "en"], ["food_safety", "product_quality"]),
    ("Amy Chen", ["quality"], ["en"], ["product_quality"]),
    ("Wang Fang", ["quality"], ["zh", "en"], ["food_safety"]),
    ("Zhang Min", ["customer_service"], ["zh", "en"], []),
    ("Tom Baker", ["customer_service"], ["en"], []),
    ("Liu Yang", ["customer_service"], ["zh"], []),
    ("Sun Hao", ["logistics"], ["zh"], []),
    ("Grace Lee", ["logistics"], ["en", "zh"], []),
    ("Zhou Jie", ["logistics"], ["zh"], []),
    ("Chen Jing", ["finance"], ["zh", "en"], ["refund_after_sales"]),
    ("Qian Lei", ["finance", "privacy"], ["zh", "en"], ["billing_price", "privacy_security"]),
    ("Olivia Park", ["privacy"], ["en"], ["privacy_security"]),
    ("Zhao Min", ["customer_service", "quality", "logistics", "finance", "privacy"], ["zh", "en"], []),
]
LEADS = {"quality": "Wang Fang", "customer_service": "Liu Yang", "logistics": "Zhou Jie", "finance": "Qian Lei",
         "privacy": "Qian Lei"}
MANAGER = "Zhao Min"


def seed() -> bool:
    """Seed the directory and the leads/manager into the routing config; False if already configured."""
    from shared.config_store import config_store
    from shared.staff_directory import HandlerProfileIn, staff_directory

    store = config_store()
    current = store.current("routing", fresh=True)
    if current.version != 0:
        return False
    directory = staff_directory()
    for name, departments, languages, skills in HANDLERS:
        handler_id = subject_for(name)
        if directory.profile(handler_id) is None:
            email = handler_id.removeprefix("dev-") + "@staff.example.com"
            directory.put_profile(handler_id, HandlerProfileIn(
                name=name, email=email, language="zh" if "zh" in languages[:1] else "en",
                departments=departments, languages=languages, skills=skills))
        directory.set_on_duty(handler_id, True)
    document: dict[str, Any] = current.config.model_dump(mode="json", exclude_none=True)
    for department in document["departments"]:
        department["lead"] = subject_for(LEADS[department["department_id"]])
        department["manager"] = subject_for(MANAGER)
    store.save("routing", document, expected_version=0, actor="local stack (demo staff)",
               comment="demo leads and manager (infra/demo_staff.py)")
    return True
