package console

import "github.com/gatehouse-idp/gatehouse/login/i18n"

// tr translates s, an English text of the console, into lang: the
// console's own Russian texts first, then the login's catalog.
func tr(lang i18n.Lang, s string) string {
	if lang == i18n.Russian {
		if t, ok := russian[s]; ok {
			return t
		}
	}
	return i18n.T(lang, s)
}

// russian is the console's Russian catalog, keyed by the English text as
// the templates and the code write it.
var russian = map[string]string{
	"Gatehouse admin":          "Администрирование Gatehouse",
	"Admin console":            "Консоль администратора",
	"Console":                  "Консоль",
	"Language":                 "Язык",
	"Clients":                  "Клиенты",
	"Users":                    "Пользователи",
	"Blocks":                   "Блокировки",
	"Audit log":                "Журнал аудита",
	"Back":                     "Назад",
	"Cancel":                   "Отмена",
	"Actions":                  "Действия",
	"Name":                     "Имя",
	"Email":                    "Электронная почта",
	"Password":                 "Пароль",
	"Type":                     "Тип",
	"Status":                   "Состояние",
	"Created":                  "Создан",
	"Updated":                  "Изменён",
	"yes":                      "да",
	"no":                       "нет",
	"on":                       "включено",
	"off":                      "выключено",
	"active":                   "активен",
	"disabled":                 "отключён",
	"administrator":            "администратор",
	"confidential":             "конфиденциальный",
	"public":                   "публичный",
	"ip":                       "IP-адрес",
	"account":                  "аккаунт",
	"admin API":                "API администратора",
	"Two-factor settings":      "Настройки двухфакторной защиты",
	"Not signed in":            "Вход не выполнен",
	"Not an administrator":     "Вы не администратор",
	"Not done":                 "Не выполнено",
	"Request refused":          "Запрос отклонён",
	"Temporarily unavailable":  "Временно недоступно",
	"Turn on two-factor first": "Сначала включите двухфакторную защиту",
	"Sign in to an application that uses Gatehouse (or to your account), then come back to the console.":                         "Войдите в приложение, использующее Gatehouse (или в свой аккаунт), затем вернитесь в консоль.",
	"Your account does not have the administrator role. Ask an administrator to grant it.":                                       "У вашего аккаунта нет роли администратора. Попросите администратора её выдать.",
	"The admin console needs a second factor: an authenticator app, email codes or a security key. Turn one on, then come back.": "Для консоли администратора нужен второй фактор: приложение-аутентификатор, коды по электронной почте или электронный ключ. Включите его и вернитесь.",
	"The database is not available. Please try again in a moment.":                                                               "База данных недоступна. Попробуйте ещё раз чуть позже.",
	"The request was too large.": "Запрос слишком большой.",
	"Your request could not be verified. Please reload the page and try again.": "Не удалось проверить ваш запрос. Обновите страницу и попробуйте снова.",
	"the applications that sign users in":                                       "приложения, в которые входят пользователи",
	"accounts, their second factors and sessions":                               "аккаунты, их вторые факторы и сеансы",
	"IP addresses and accounts locked out after failed attempts":                "IP-адреса и аккаунты, заблокированные после неудачных попыток",
	"what happened, newest first":                                               "что происходило, сначала новое",

	// Clients.
	"New client":                             "Новый клиент",
	"Client created":                         "Клиент создан",
	"New client secret":                      "Новый секрет клиента",
	"Client ID":                              "Идентификатор клиента",
	"Client secret":                          "Секрет клиента",
	"Require MFA":                            "Требовать второй фактор",
	"Signing algorithm":                      "Алгоритм подписи",
	"Access token format":                    "Формат токенов доступа",
	"Authentication":                         "Аутентификация",
	"Redirect URIs":                          "URI перенаправления",
	"Redirect URIs (one a line)":             "URI перенаправления (по одному в строке)",
	"Post-logout redirect URIs (one a line)": "URI перенаправления после выхода (по одному в строке)",
	"Create client":                          "Создать клиента",
	"Save redirect URIs":                     "Сохранить URI перенаправления",
	"Settings":                               "Настройки",
	"Save settings":                          "Сохранить настройки",
	"Rotate the secret":                      "Заменить секрет",
	"A new secret works at once; the old one stops working.": "Новый секрет действует сразу, старый перестаёт действовать.",
	"Delete":              "Удаление",
	"Delete this client…": "Удалить этого клиента…",
	"Delete client":       "Удаление клиента",
	"Delete the client":   "Удалить клиента",
	"Delete %s? Its tokens stop working and it can no longer sign users in. This cannot be undone.": "Удалить %s? Его токены перестанут действовать, и пользователи больше не смогут через него входить. Отменить это нельзя.",
	"No clients yet.": "Клиентов пока нет.",
	"This is the only time the secret is shown. Copy it now.": "Секрет показывается только один раз. Скопируйте его сейчас.",
	"This client has no secret.":                              "У этого клиента нет секрета.",
	"Copy":                                                    "Копировать",
	"Copied.":                                                 "Скопировано.",
	"Go to the client":                                        "К клиенту",

	// Users.
	"New user":        "Новый пользователь",
	"Create user":     "Создать пользователя",
	"Email contains":  "Адрес содержит",
	"Search":          "Найти",
	"No users found.": "Пользователи не найдены.",
	"Give the user this password in person; they can change it on their account page.": "Сообщите пользователю этот пароль лично; он сможет сменить его на странице своего аккаунта.",
	"Authenticator app":       "Приложение-аутентификатор",
	"Email codes":             "Коды по электронной почте",
	"Security keys":           "Электронные ключи",
	"Disable":                 "Отключить",
	"Enable":                  "Включить",
	"Reset the second factor": "Сбросить второй фактор",
	"Sign out everywhere":     "Завершить все сеансы",
	"Recent events":           "Недавние события",
	"All events of this user": "Все события пользователя",

	// Blocks.
	"Blocked":                "Заблокировано",
	"Kind":                   "Вид",
	"Step":                   "Шаг",
	"Failures":               "Неудачи",
	"Until":                  "До",
	"Clear":                  "Снять",
	"Clear the block of %s":  "Снять блокировку %s",
	"No blocks are running.": "Действующих блокировок нет.",

	// The audit log.
	"Events":             "События",
	"Event":              "Событие",
	"Time":               "Время",
	"User":               "Пользователь",
	"IP address":         "IP-адрес",
	"Detail":             "Подробности",
	"Event type":         "Тип события",
	"User (email or id)": "Пользователь (адрес или идентификатор)",
	"Since (24h, a date or an RFC 3339 time)": "С (24h, дата или время RFC 3339)",
	"Filter":       "Показать",
	"No events.":   "Событий нет.",
	"Older events": "Более ранние события",

	// Notices.
	"The redirect URIs were saved.":                    "URI перенаправления сохранены.",
	"The settings were saved.":                         "Настройки сохранены.",
	"The client was deleted.":                          "Клиент удалён.",
	"The user was created.":                            "Пользователь создан.",
	"The user was disabled and signed out everywhere.": "Пользователь отключён, все его сеансы завершены.",
	"The user was enabled.":                            "Пользователь включён.",
	"Every second factor of the user was removed.":     "Все вторые факторы пользователя удалены.",
	"The user was signed out everywhere.":              "Все сеансы пользователя завершены.",
	"The block was cleared.":                           "Блокировка снята.",
}
