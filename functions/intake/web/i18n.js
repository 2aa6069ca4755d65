/* Every user-visible string of the customer pages, in Chinese and English, and the language switch.
 *
 * The language is, in order: ?lang= in the address, the choice remembered in localStorage, the
 * browser's language (navigator.languages), English. Elements carry data-i18n="key" (text) or
 * data-i18n-attr="attr:key;attr:key" (attributes); apply() fills them in.
 */
"use strict";

(function () {
  const STRINGS = {
    en: {
      "common.brand": "Customer Care",
      "common.skip": "Skip to content",
      "common.nav_label": "Main",
      "common.nav_form": "Submit a complaint",
      "common.nav_track": "Track a complaint",
      "common.language": "Language",
      "common.colon": ": ",
      "common.footer": "We answer every complaint. Your contact details are used only to handle your case.",
      "common.network_error": "We could not reach our server. Check your connection and try again.",
      "common.server_error": "Something went wrong on our side. Please try again in a moment.",
      "common.rate_limited": "Too many attempts. Please wait a minute and try again.",

      "form.doc_title": "Submit a complaint · Customer Care",
      "form.heading": "Submit a complaint",
      "form.intro": "Tell us what went wrong. You will get a complaint number and a tracking token to follow your case.",
      "form.required_note": "Required",
      "form.optional": "(optional)",
      "form.section_complaint": "Your complaint",
      "form.title": "Short summary",
      "form.title_help": "For example: “Blender stopped working after two weeks”.",
      "form.description": "What happened?",
      "form.description_help": "Describe the problem, when and where it happened, and what you have tried.",
      "form.occurred_at": "Date it happened",
      "form.expected_resolution": "What would you like us to do?",
      "form.expected_resolution_help": "For example: a repair, a replacement, a refund or an explanation.",
      "form.section_customer": "Your contact details",
      "form.contact_help": "Give an email address or a phone number (or both) so we can reach you.",
      "form.customer_name": "Full name",
      "form.email": "Email",
      "form.phone": "Phone",
      "form.member_id": "Membership number",
      "form.preferred_language": "Language for our replies",
      "form.section_product": "Product or order",
      "form.product_name": "Product name",
      "form.product_sku": "Model / SKU",
      "form.product_batch": "Batch number",
      "form.order_id": "Order number",
      "form.purchase_channel": "Where you bought it",
      "form.purchase_channel_placeholder": "Online shop, store, marketplace…",
      "form.purchased_at": "Purchase date",
      "form.section_attachments": "Photos and documents",
      "form.attachments": "Attach files",
      "form.attachments_choose": "Choose files…",
      "form.attachments_none": "No files chosen",
      "form.attachments_count": "Files added: {count}",
      "form.attachments_help": "Photos, receipts or documents, up to {max} files.",
      "form.submit": "Submit complaint",
      "form.submitting": "Submitting…",
      "form.privacy_note": "We use your details only to handle this complaint.",
      "form.summary_invalid": "Please correct the highlighted fields ({count}).",
      "form.summary_server": "Your complaint could not be submitted:",
      "form.summary_uploads": "Please wait until all files are uploaded, or remove the ones that failed.",
      "form.conflict": "This complaint was already submitted with different content. Reload the page to start a new one.",

      "validation.required": "This field is required.",
      "validation.max_length": "Use at most {max} characters (now {count}).",
      "validation.email": "Enter an email address like name@example.com.",
      "validation.pattern.customer.phone": "Enter a phone number: digits, an optional leading +, spaces or dashes.",
      "validation.digits": "A phone number has between {min} and {max} digits.",
      "validation.pattern": "This value has the wrong format.",
      "validation.contact": "Give an email address or a phone number so we can reach you.",
      "validation.future": "This date cannot be in the future.",
      "validation.date": "Enter a valid date.",
      "validation.server": "{problem}",

      "upload.requesting": "Preparing…",
      "upload.uploading": "Uploading {percent}%",
      "upload.done": "Uploaded",
      "upload.failed": "Upload failed",
      "upload.rejected": "Not accepted",
      "upload.remove": "Remove",
      "upload.remove_label": "Remove {name}",
      "upload.retry": "Retry",
      "upload.too_many": "You can attach at most {max} files; {name} was not added.",
      "upload.too_large": "This file is larger than {max}.",
      "upload.network": "The upload was interrupted. Check your connection and retry.",

      "result.heading": "Thank you, we have received your complaint",
      "result.intro": "We will confirm by email or text message and keep you informed as we work on it.",
      "result.number": "Complaint number",
      "result.token": "Tracking token",
      "result.copy": "Copy",
      "result.copied": "Tracking token copied.",
      "result.copy_failed": "Could not copy: select the token and copy it yourself.",
      "result.keep_token": "Keep this tracking token somewhere safe. You need it together with the complaint number to follow your case, and we cannot show it again.",
      "result.track_link": "Track this complaint",
      "result.new": "Submit another complaint",

      "track.doc_title": "Track a complaint · Customer Care",
      "track.heading": "Track a complaint",
      "track.intro": "Enter the complaint number and the tracking token you received when you submitted your complaint.",
      "track.number": "Complaint number",
      "track.number_placeholder": "e.g. CK7M4QX9TR",
      "track.number_help": "Starts with C, 10 characters.",
      "track.token": "Tracking token",
      "track.token_help": "Shown once after you submitted your complaint.",
      "track.submit": "Show status",
      "track.loading": "Looking up…",
      "track.not_found": "We found no complaint with this number and token. Check the complaint number and the tracking token.",
      "track.invalid_number": "This complaint number is not valid. Check it for typos.",
      "track.case_label": "Complaint",
      "track.received_at": "Received",
      "track.updated_at": "Last update",
      "track.category": "Category",
      "track.department": "Handled by",
      "track.timeline": "History",
      "track.timeline_empty": "No updates yet.",
      "track.closed_at": "Closed",
      "track.merged": "This complaint is handled together with another case about the same problem. You will hear from us there; nothing more is needed here.",
      "track.waiting_note": "We need more information from you: please read our latest message and answer below.",
      "track.attached_files": "Attached files",
      "track.conflict": "Your complaint changed in the meantime. Here is how it stands now.",
      "track.counter": "{count} / {max}",
      "track.sending": "Sending…",
      "track.plan_heading": "Our proposed solution",
      "track.resolution_heading": "Your complaint has been resolved",
      "track.confirm_plan_question": "Does this solution work for you?",
      "track.confirm_resolution_question": "Is your problem solved?",
      "track.accept_plan": "Accept the solution",
      "track.accept_resolution": "Yes, it is solved",
      "track.dispute_plan": "I do not accept",
      "track.dispute_resolution": "No, it is not solved",
      "track.confirm_due": "Please answer by {date}. If we do not hear from you, the complaint will be closed as resolved.",
      "track.dispute_reason": "Please tell us why",
      "track.dispute_help": "We will look at your complaint again with your reason.",
      "track.dispute_reason_required": "Please tell us why, so that we can do better.",
      "track.dispute_submit": "Send my answer",
      "track.cancel": "Cancel",
      "track.accepted": "Thank you for confirming. Your complaint is now closed.",
      "track.disputed": "Thank you for telling us. Your complaint has been reopened and a senior colleague will look at it.",
      "track.reply_heading": "Write to us",
      "track.reply_heading_answer": "Answer our question",
      "track.reply_text": "Your message",
      "track.reply_help": "Add anything that helps us, for example a photo of the label or the receipt.",
      "track.reply_attachments": "Attach files",
      "track.attachments_help": "Photos, receipts or documents, up to {max} files.",
      "track.reply_submit": "Send message",
      "track.reply_sent": "Your message was sent. We will get back to you.",
      "track.survey_heading": "How did we do?",
      "track.survey_intro": "Your answer helps us improve. It takes less than a minute.",
      "track.survey_rating": "Overall, how satisfied are you?",
      "track.rating_label": "{n} of {max}: {text}",
      "track.rating_chosen": "You chose {n} of {max}: {text}",
      "track.rating_required": "Please choose from 1 to 5 stars.",
      "track.aspect_good": "Went well",
      "track.aspect_bad": "Went badly",
      "track.aspect_skip": "No answer",
      "track.survey_comment": "Anything else you would like to tell us?",
      "track.survey_submit": "Send feedback",
      "track.survey_thanks": "Thank you for your feedback.",
      "track.survey_given": "You rated us {n} of {max}.",
      "track.survey_not_yet": "The survey opens once your complaint is closed.",
      "track.survey_closed": "There is no survey for this complaint.",
      "track.feedback_sent": "Thank you, your feedback was recorded.",

      "status.received": "Received",
      "status.classified": "Under review",
      "status.assigned": "Assigned",
      "status.in_progress": "In progress",
      "status.waiting_on_customer": "Waiting for your reply",
      "status.resolution_proposed": "Solution proposed",
      "status.resolved": "Resolved",
      "status.closed": "Closed",
      "status.rejected": "Rejected",
      "status.withdrawn": "Withdrawn",

      "kind.received": "Complaint received",
      "kind.acknowledged": "Confirmation sent",
      "kind.status_changed": "Status changed",
      "kind.customer_message": "Your message",
      "kind.staff_reply": "Reply from our team",
      "kind.information_request": "We need information from you",
      "kind.plan_proposed": "Solution proposed",
      "kind.confirmed": "You accepted the resolution",
      "kind.disputed": "You did not accept the resolution",
      "kind.feedback": "Your feedback",
      "kind.reopened": "Complaint reopened",
      "kind.merged": "Handled together with another case",
      "kind.split": "Handled separately again",

      "status.merged": "Handled with another case",

      "category.product_quality": "Product quality",
      "category.food_safety": "Food safety",
      "category.delivery_logistics": "Delivery",
      "category.service_attitude": "Customer service",
      "category.billing_price": "Billing and prices",
      "category.refund_after_sales": "Refunds and after-sales",
      "category.privacy_security": "Privacy and security",
      "category.other": "Other",

      "plan.refund": "Refund",
      "plan.replacement": "Replacement",
      "plan.compensation": "Compensation",
      "plan.repair": "Repair",
      "plan.apology": "Apology",
      "plan.explanation": "Explanation",

      "planstate.proposed": "Waiting for your answer",
      "planstate.accepted": "Accepted",
      "planstate.disputed": "Not accepted",

      "closure.confirmed": "You confirmed the resolution. This complaint is closed.",
      "closure.resolved_without_confirmation": "This complaint was closed as resolved: we did not hear back from you in time. If the problem is still there, please contact us again.",
      "closure.rejected": "This complaint was closed without further action. The reason is in the history below.",
      "closure.withdrawn": "This complaint was withdrawn.",

      "rating.1": "very dissatisfied",
      "rating.2": "dissatisfied",
      "rating.3": "neither",
      "rating.4": "satisfied",
      "rating.5": "very satisfied",
    },

    zh: {
      "common.brand": "客户服务中心",
      "common.skip": "跳到正文",
      "common.nav_label": "主导航",
      "common.nav_form": "提交投诉",
      "common.nav_track": "查询进度",
      "common.language": "语言",
      "common.colon": "：",
      "common.footer": "我们会认真处理每一条投诉。您的联系方式仅用于处理本次投诉。",
      "common.network_error": "无法连接服务器，请检查网络后重试。",
      "common.server_error": "服务器出现问题，请稍后重试。",
      "common.rate_limited": "尝试次数过多，请一分钟后再试。",

      "form.doc_title": "提交投诉 · 客户服务中心",
      "form.heading": "提交投诉",
      "form.intro": "请告诉我们遇到的问题。提交后您将获得投诉编号和查询码，用于查询处理进度。",
      "form.required_note": "必填",
      "form.optional": "（选填）",
      "form.section_complaint": "投诉内容",
      "form.title": "简要标题",
      "form.title_help": "例如：“搅拌机使用两周后无法启动”。",
      "form.description": "发生了什么？",
      "form.description_help": "请描述问题、发生的时间和地点，以及您已尝试的解决办法。",
      "form.occurred_at": "发生日期",
      "form.expected_resolution": "您希望我们如何处理？",
      "form.expected_resolution_help": "例如：维修、换货、退款或给出解释。",
      "form.section_customer": "联系方式",
      "form.contact_help": "请至少填写电子邮箱或手机号码中的一项，以便我们联系您。",
      "form.customer_name": "姓名",
      "form.email": "电子邮箱",
      "form.phone": "手机号码",
      "form.member_id": "会员号",
      "form.preferred_language": "回复语言",
      "form.section_product": "商品或订单",
      "form.product_name": "商品名称",
      "form.product_sku": "型号 / SKU",
      "form.product_batch": "批次号",
      "form.order_id": "订单号",
      "form.purchase_channel": "购买渠道",
      "form.purchase_channel_placeholder": "网店、门店、电商平台……",
      "form.purchased_at": "购买日期",
      "form.section_attachments": "照片和文件",
      "form.attachments": "添加附件",
      "form.attachments_choose": "选择文件",
      "form.attachments_none": "未选择文件",
      "form.attachments_count": "已添加 {count} 个文件",
      "form.attachments_help": "可上传照片、票据或文件，最多 {max} 个。",
      "form.submit": "提交投诉",
      "form.submitting": "正在提交……",
      "form.privacy_note": "您的信息仅用于处理本次投诉。",
      "form.summary_invalid": "请修改标出的 {count} 项内容。",
      "form.summary_server": "投诉未能提交：",
      "form.summary_uploads": "请等待所有文件上传完成，或移除上传失败的文件。",
      "form.conflict": "此投诉已用不同的内容提交过。请刷新页面后重新填写。",

      "validation.required": "此项为必填项。",
      "validation.max_length": "最多 {max} 个字符（当前 {count} 个）。",
      "validation.email": "请输入有效的电子邮箱，例如 name@example.com。",
      "validation.pattern.customer.phone": "请输入有效的电话号码：数字，可以 + 开头，可含空格或短横线。",
      "validation.digits": "电话号码应为 {min} 至 {max} 位数字。",
      "validation.pattern": "格式不正确。",
      "validation.contact": "请填写电子邮箱或手机号码，以便我们联系您。",
      "validation.future": "日期不能晚于今天。",
      "validation.date": "请输入有效的日期。",
      "validation.server": "请检查此项：{problem}",

      "upload.requesting": "准备中……",
      "upload.uploading": "正在上传 {percent}%",
      "upload.done": "已上传",
      "upload.failed": "上传失败",
      "upload.rejected": "不支持",
      "upload.remove": "移除",
      "upload.remove_label": "移除 {name}",
      "upload.retry": "重试",
      "upload.too_many": "最多只能添加 {max} 个附件，{name} 未添加。",
      "upload.too_large": "文件超过 {max}。",
      "upload.network": "上传中断，请检查网络后重试。",

      "result.heading": "谢谢，我们已收到您的投诉",
      "result.intro": "我们会通过邮件或短信确认，并在处理过程中及时告知进展。",
      "result.number": "投诉编号",
      "result.token": "查询码",
      "result.copy": "复制",
      "result.copied": "查询码已复制。",
      "result.copy_failed": "复制失败，请手动选中查询码并复制。",
      "result.keep_token": "请妥善保存查询码。查询进度时需要同时提供投诉编号和查询码，查询码不会再次显示。",
      "result.track_link": "查询此投诉",
      "result.new": "再提交一条投诉",

      "track.doc_title": "查询投诉进度 · 客户服务中心",
      "track.heading": "查询投诉进度",
      "track.intro": "请输入提交投诉后获得的投诉编号和查询码。",
      "track.number": "投诉编号",
      "track.number_placeholder": "例如 CK7M4QX9TR",
      "track.number_help": "以 C 开头，共 10 位。",
      "track.token": "查询码",
      "track.token_help": "提交投诉后页面上显示的查询码。",
      "track.submit": "查询",
      "track.loading": "正在查询……",
      "track.not_found": "未找到与此编号和查询码匹配的投诉。请核对投诉编号和查询码。",
      "track.invalid_number": "投诉编号无效，请检查是否输入有误。",
      "track.case_label": "投诉",
      "track.received_at": "受理时间",
      "track.updated_at": "最近更新",
      "track.category": "类别",
      "track.department": "处理部门",
      "track.timeline": "处理记录",
      "track.timeline_empty": "暂无更新。",
      "track.closed_at": "结案时间",
      "track.merged": "此投诉与另一条关于同一问题的投诉合并处理。我们会在那条投诉中与您联系，此处无需再操作。",
      "track.waiting_note": "我们需要您补充信息：请查看我们的最新留言，并在下方回复。",
      "track.attached_files": "附件",
      "track.conflict": "您的投诉在此期间有了更新，以下是最新情况。",
      "track.counter": "{count} / {max}",
      "track.sending": "正在发送……",
      "track.plan_heading": "我们提出的解决方案",
      "track.resolution_heading": "您的投诉已处理完毕",
      "track.confirm_plan_question": "您是否接受这个解决方案？",
      "track.confirm_resolution_question": "您的问题解决了吗？",
      "track.accept_plan": "接受方案",
      "track.accept_resolution": "是，已解决",
      "track.dispute_plan": "不接受",
      "track.dispute_resolution": "否，未解决",
      "track.confirm_due": "请在 {date} 前答复。如届时未收到您的答复，投诉将按已解决结案。",
      "track.dispute_reason": "请告诉我们原因",
      "track.dispute_help": "我们会根据您说明的原因重新处理您的投诉。",
      "track.dispute_reason_required": "请说明原因，以便我们改进处理。",
      "track.dispute_submit": "提交答复",
      "track.cancel": "取消",
      "track.accepted": "感谢您的确认，您的投诉已结案。",
      "track.disputed": "感谢您的反馈。您的投诉已重新处理，将由资深同事跟进。",
      "track.reply_heading": "给我们留言",
      "track.reply_heading_answer": "回复我们的问题",
      "track.reply_text": "留言内容",
      "track.reply_help": "请补充对处理有帮助的信息，例如标签或小票的照片。",
      "track.reply_attachments": "添加附件",
      "track.attachments_help": "可上传照片、票据或文件，最多 {max} 个。",
      "track.reply_submit": "发送留言",
      "track.reply_sent": "留言已发送，我们会尽快回复您。",
      "track.survey_heading": "请评价我们的服务",
      "track.survey_intro": "您的评价将帮助我们改进，只需不到一分钟。",
      "track.survey_rating": "总体而言，您是否满意？",
      "track.rating_label": "{n} / {max}：{text}",
      "track.rating_chosen": "您选择了 {n} / {max}：{text}",
      "track.rating_required": "请选择 1 至 5 颗星。",
      "track.aspect_good": "满意",
      "track.aspect_bad": "不满意",
      "track.aspect_skip": "不评价",
      "track.survey_comment": "还有其他想告诉我们的吗？",
      "track.survey_submit": "提交评价",
      "track.survey_thanks": "感谢您的评价。",
      "track.survey_given": "您的评分：{n} / {max}。",
      "track.survey_not_yet": "投诉结案后即可评价。",
      "track.survey_closed": "此投诉没有满意度评价。",
      "track.feedback_sent": "谢谢，您的评价已提交。",

      "status.received": "已受理",
      "status.classified": "审核中",
      "status.assigned": "已分派",
      "status.in_progress": "处理中",
      "status.waiting_on_customer": "等待您的回复",
      "status.resolution_proposed": "已提出解决方案",
      "status.resolved": "已解决",
      "status.closed": "已结案",
      "status.rejected": "不予受理",
      "status.withdrawn": "已撤回",

      "kind.received": "收到投诉",
      "kind.acknowledged": "已发送确认",
      "kind.status_changed": "状态变更",
      "kind.customer_message": "您的留言",
      "kind.staff_reply": "客服回复",
      "kind.information_request": "需要您补充信息",
      "kind.plan_proposed": "提出解决方案",
      "kind.confirmed": "您已接受处理结果",
      "kind.disputed": "您未接受处理结果",
      "kind.feedback": "您的评价",
      "kind.reopened": "投诉重新处理",
      "kind.merged": "与另一条投诉合并处理",
      "kind.split": "恢复单独处理",

      "status.merged": "已合并处理",

      "category.product_quality": "产品质量",
      "category.food_safety": "食品安全",
      "category.delivery_logistics": "物流配送",
      "category.service_attitude": "服务态度",
      "category.billing_price": "价格与扣费",
      "category.refund_after_sales": "退款与售后",
      "category.privacy_security": "隐私与安全",
      "category.other": "其他",

      "plan.refund": "退款",
      "plan.replacement": "换货",
      "plan.compensation": "补偿",
      "plan.repair": "维修",
      "plan.apology": "致歉",
      "plan.explanation": "情况说明",

      "planstate.proposed": "等待您的答复",
      "planstate.accepted": "已接受",
      "planstate.disputed": "未接受",

      "closure.confirmed": "您已确认处理结果，此投诉已结案。",
      "closure.resolved_without_confirmation": "由于在规定时间内未收到您的答复，此投诉已按已解决结案。如问题仍未解决，欢迎再次联系我们。",
      "closure.rejected": "此投诉已结案，不再进一步处理。原因请见下方处理记录。",
      "closure.withdrawn": "此投诉已撤回。",

      "rating.1": "非常不满意",
      "rating.2": "不满意",
      "rating.3": "一般",
      "rating.4": "满意",
      "rating.5": "非常满意",
    },
  };

  const LANGS = Object.keys(STRINGS);
  const STORAGE_KEY = "complaints.lang";
  const listeners = [];
  let current = pickLanguage();

  function normalise(value) {
    const code = String(value || "").toLowerCase().slice(0, 2);
    return LANGS.includes(code) ? code : null;
  }

  function stored() {
    try {
      return localStorage.getItem(STORAGE_KEY);
    } catch (_) {
      return null; // storage disabled (privacy mode): fall through
    }
  }

  function pickLanguage() {
    const fromQuery = normalise(new URLSearchParams(location.search).get("lang"));
    if (fromQuery) return fromQuery;
    const remembered = normalise(stored());
    if (remembered) return remembered;
    for (const candidate of navigator.languages || [navigator.language]) {
      const lang = normalise(candidate);
      if (lang) return lang;
    }
    return "en";
  }

  /** The string for key in the current language, with {name} placeholders filled from params. */
  function t(key, params) {
    const table = STRINGS[current];
    let text = key in table ? table[key] : key in STRINGS.en ? STRINGS.en[key] : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
    }
    return text;
  }

  function has(key) {
    return key in STRINGS[current];
  }

  function apply(root) {
    const scope = root || document;
    for (const el of scope.querySelectorAll("[data-i18n]")) {
      el.textContent = t(el.dataset.i18n);
    }
    for (const el of scope.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":");
        if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
      }
    }
    document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
    for (const button of document.querySelectorAll("[data-set-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.setLang === current));
    }
  }

  function setLang(lang, remember) {
    const next = normalise(lang);
    if (!next) return;
    current = next;
    if (remember !== false) {
      try {
        localStorage.setItem(STORAGE_KEY, next);
      } catch (_) {
        /* not remembered: fine */
      }
    }
    const url = new URL(location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.set("lang", next);
      history.replaceState(history.state, "", url);
    }
    apply();
    for (const listener of listeners) listener(next);
  }

  function onChange(listener) {
    listeners.push(listener);
  }

  // Deferred scripts run once the document is parsed: fill the page in before it is first painted.
  apply();
  for (const button of document.querySelectorAll("[data-set-lang]")) {
    button.addEventListener("click", () => setLang(button.dataset.setLang));
  }

  window.ComplaintI18n = {
    STRINGS,
    t,
    has,
    apply,
    setLang,
    onChange,
    get lang() {
      return current;
    },
  };
})();
